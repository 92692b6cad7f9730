"""Consents that prove what was agreed to: the document's hash, the channel, a withdrawal.

``consents`` gains ``document_sha256`` (the SHA-256 of the page the person was shown,
``miniapp_api/legal``), ``channel`` (``wechat``, ``alipay``, ``review``: where it was given)
and ``withdrawn_at`` (a consent withdrawn stays on record, as the proof of when it ended).
Rows from before (guardian consents) keep these empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection(), op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("channel")
        batch_op.drop_column("document_sha256")
