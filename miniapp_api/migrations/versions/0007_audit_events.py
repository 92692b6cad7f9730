"""The audit trail: ``audit_events``, append-only and hash-chained.

Who (a pseudonymous id), what, which object (a public id), when, in which request, and the
hash chain ``audit/service.py`` writes and checks. The database refuses UPDATE and DELETE on
the table by a trigger: on PostgreSQL one statement trigger raising ``insufficient_privilege``,
on SQLite (the embedded default) one ``RAISE(ABORT)`` trigger per statement kind. TRUNCATE and
dropping the table stay with the table's owner: the application's role should not own it in
production (and ``miniapp audit verify`` notices any row removed from the middle).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSTGRESQL_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_POSTGRESQL_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"""
_SQLITE_TRIGGERS = {
    kind: f"""
CREATE TRIGGER audit_events_no_{kind.lower()} BEFORE {kind} ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {kind} refused'); END
"""
    for kind in ("UPDATE", "DELETE")
}


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        # Each actor's chain: its last row is read at every append.
        batch_op.create_index("ix_audit_events_chain", ["actor_kind", "actor", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRESQL_FUNCTION)
        op.execute(_POSTGRESQL_TRIGGER)
    else:
        for trigger in _SQLITE_TRIGGERS.values():
            op.execute(trigger)


def downgrade() -> None:
    """Downgrade schema."""
    # Dropping the table drops its triggers; the function goes on its own.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
