"""Retention of staff scan receipts and labs' idempotency records: the indexes their purge walks.

``miniapp retention purge`` now also deletes ``scan_receipts`` (the answer a re-sent scan item
gets: a masked name and an ID number's last four, kept as long as results) and ``lab_requests``
(a lab's ``Idempotency-Key`` with its body hash and answer) past their periods, oldest first by
``created_at``; without these indexes every batch would scan the table.

Both tables take writes all day long (every scan, every upload), so on PostgreSQL the indexes
are built ``CONCURRENTLY``, outside the migration's transaction: scans and uploads go on while
they build. Expand-only: code before this migration does not use them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 08:30:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_scan_receipts_created_at", "scan_receipts"),
    ("ix_lab_requests_created_at", "lab_requests"),
)


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for name, table in INDEXES:
                op.create_index(
                    name, table, ["created_at"], postgresql_concurrently=True, if_not_exists=True
                )
    else:
        for name, table in INDEXES:
            op.create_index(name, table, ["created_at"])


def downgrade() -> None:
    """Downgrade schema."""
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
