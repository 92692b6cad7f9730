"""Person results: a tube result fanned out to each person sampled into the tube."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


class PersonResult(Base):
    """One person's result from one tube.

    ``state``: ``negative``, ``positive`` (single-person tube), ``retest_required`` (pooled
    tube positive), ``invalid``. A sampling without a row here is ``pending``.
    """

    __tablename__ = "person_results"
    __table_args__ = (UniqueConstraint("sampling_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key, and no index on the copies below: rows are only written by the fan-out
    # (``results/fanout.py``), from the samplings in the same statement, and read by sampling
    # (lookups, rebuild). Bulk ingest (1M rows a morning) paid a row-by-row check and two
    # randomly placed index entries per row for them: a quarter of its time (bench/ingest.py).
    sampling_id: Mapped[int] = mapped_column(Integer)
    # Copies of the sampling's resident and tube.
    resident_id: Mapped[int] = mapped_column(Integer)
    tube_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24))
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
