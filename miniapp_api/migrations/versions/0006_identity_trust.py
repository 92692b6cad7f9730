"""Identity you can trust: verified self links, proxy reasons, link requests, notices.

``account_residents`` gains ``public_id`` (the name of a holding, which the person held may
remove), ``verified_at`` (the platform's real-name check vouched for a self link) and
``proxy_reason`` (why a dependent may be held). Existing links get a public id each and stay
unverified claims; existing dependents are recorded as ``unable`` (the old endpoint asked
no reason), and the person held can remove any holder.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:59:37.043685

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from miniapp_api.db import new_public_id
from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection():
        _upgrade()


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection():
        _downgrade()


def _upgrade() -> None:
    op.create_table(
        "link_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("proxy_reason", sa.String(length=16), nullable=False),
        sa.Column("approvable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["accounts.id"],
            name=op.f("fk_link_requests_requester_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_link_requests_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_link_requests_public_id")),
    )
    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_requests_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_requests_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("push_status", sa.String(length=16), nullable=False),
        sa.Column("push_attempts", sa.Integer(), nullable=False),
        sa.Column("push_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notices_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            "ix_notices_push_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("push_status = 'pending'"),
            sqlite_where=sa.text("push_status = 'pending'"),
        )

    with op.batch_alter_table("account_residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("proxy_reason", sa.String(length=16), nullable=True))
    _backfill()
    with op.batch_alter_table("account_residents", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=24), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_account_residents_public_id"), ["public_id"]
        )


def _backfill() -> None:
    """A public id for every existing link (one by one: random ids), ``unable`` for dependents."""
    bind = op.get_bind()
    links = sa.table(
        "account_residents",
        sa.column("id", sa.Integer()),
        sa.column("public_id", sa.String()),
        sa.column("relation", sa.String()),
        sa.column("proxy_reason", sa.String()),
    )
    ids = [row[0] for row in bind.execute(sa.select(links.c.id))]
    for link_id in ids:
        bind.execute(
            links.update().where(links.c.id == link_id).values(public_id=new_public_id("h"))
        )
    bind.execute(
        links.update().where(links.c.relation == "dependent").values(proxy_reason="unable")
    )


def _downgrade() -> None:
    with op.batch_alter_table("account_residents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_account_residents_public_id"), type_="unique")
        batch_op.drop_column("proxy_reason")
        batch_op.drop_column("verified_at")
        batch_op.drop_column("public_id")

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_push_pending")
        batch_op.drop_index(batch_op.f("ix_notices_account_id"))
    op.drop_table("notices")
    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_requests_resident_id"))
        batch_op.drop_index(batch_op.f("ix_link_requests_requester_id"))
    op.drop_table("link_requests")
