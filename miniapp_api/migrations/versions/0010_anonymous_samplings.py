"""Samplings outlive their resident: no foreign key from samplings.resident_id to residents.

Account deletion (``miniapp_api/rights/deletion.py``) erases the residents no other login
holds, but keeps their samplings and person results for the results' retention period,
without identity: their ``resident_id`` becomes minus the sampling's own id, which names no
resident. person_results has had no foreign key since 0005; this drops the samplings' one. The
index on the column stays (it is how a resident's samplings are found).

The downgrade deletes the anonymous samplings (negative resident ids) and their person results
first: the foreign key could not be created over them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00

"""

from collections.abc import Sequence

from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("samplings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_samplings_resident_id_residents"), type_="foreignkey"
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        "DELETE FROM person_results WHERE sampling_id IN "
        "(SELECT id FROM samplings WHERE resident_id < 0)"
    )
    op.execute("DELETE FROM samplings WHERE resident_id < 0")
    with quiet_sqlite_reflection(), op.batch_alter_table("samplings", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_samplings_resident_id_residents"),
            "residents",
            ["resident_id"],
            ["id"],
        )
