"""``retention_progress``: where a purge's walk stopped, committed with the batch it ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base


class RetentionProgress(Base):
    """The last row a walk looked at, in its order (``at``, ``row_id``): everything before it
    was purged or found to stay for good (``retention/batches.py``, samplings).

    In the database rather than Redis: written in the same transaction as the batch's
    deletions, so it never runs ahead of them, and restored with them from a backup.
    """

    __tablename__ = "retention_progress"

    walk: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    row_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
