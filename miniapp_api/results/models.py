"""Person results: a tube result fanned out to each person sampled into the tube."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
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
    sampling_id: Mapped[int] = mapped_column(ForeignKey("samplings.id"))
    # Copies of the sampling's resident and tube, for lookups by either. No foreign keys of
    # their own: the sampling's already guarantee both, and bulk ingest (1M rows) would pay
    # two more row-by-row checks (bench/ingest.py).
    resident_id: Mapped[int] = mapped_column(index=True)
    tube_id: Mapped[int] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(24))
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
