"""A lab's previous upload secret, accepted until an end of overlap.

``miniapp labs rotate-secret`` gives a lab a new secret and keeps the old one valid for an
overlap window, so the lab can switch without a failed upload; both columns are empty outside
a rotation. Expand-only: code before this migration ignores them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:15:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("labs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("labs", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_until")
        batch_op.drop_column("previous_secret_enc")
