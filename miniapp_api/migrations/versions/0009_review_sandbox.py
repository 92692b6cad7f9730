"""Review mode: residents of the reviewers' sandbox are flagged ``synthetic``.

A synthetic resident was made by ``miniapp_api/review`` from the reserved range of names and ID
numbers (README, "For platform review"); sampling sites refuse their codes, labs never see
them, pushes never reach them and metrics of residents leave them out.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:41:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("synthetic", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("synthetic")
