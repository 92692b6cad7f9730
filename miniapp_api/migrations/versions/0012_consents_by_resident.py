"""An index on ``consents.resident_id``.

Deleting a resident (``DELETE /api/v1/me``, the review sandbox's reset) deletes the guardian
consents given for them, and the foreign key's ``ON DELETE CASCADE`` looks them up by this
column: without an index, every deleted resident scanned the whole table (three consents per
account, millions of rows).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:20:00

"""

from collections.abc import Sequence

from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_resident_id"), ["resident_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_resident_id"))
