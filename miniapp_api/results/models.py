"""Results: a lab's tube results (with their amendment history), the person results fanned out
from them, and the outbox rows that announce each person result to the accounts holding them.

The outbox is written by the result pipeline (``results/pipeline.py``) in the results' own
transaction and consumed by the push worker (``notify/worker.py``), which owns the rows'
delivery status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


class TubeResult(Base):
    """The current final result of a tube. Never overwritten by an upload; amended explicitly."""

    __tablename__ = "tube_results"
    # Retention (miniapp_api/retention): results past their period, oldest first.
    __table_args__ = (Index("ix_tube_results_tested_at", "tested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tube_id: Mapped[int] = mapped_column(ForeignKey("tubes.id"), unique=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id"))
    result: Mapped[str] = mapped_column(String(16))  # negative | positive | invalid
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TubeResultAmendment(Base):
    """History: each amendment keeps the result it replaced and why."""

    __tablename__ = "tube_result_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tube_result_id: Mapped[int] = mapped_column(ForeignKey("tube_results.id"), index=True)
    previous_result: Mapped[str] = mapped_column(String(16))
    new_result: Mapped[str] = mapped_column(String(16))
    previous_tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    amended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PersonResult(Base):
    """One person's result from one tube.

    ``state``: ``negative``, ``positive`` (single-person tube), ``retest_required`` (pooled
    tube positive), ``invalid``. A sampling without a row here is ``pending``.
    """

    __tablename__ = "person_results"
    __table_args__ = (UniqueConstraint("sampling_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key, and no index on the copies below: rows are only written by the fan-out
    # (``results/pipeline.py``), from the samplings in the same statement, and read by sampling
    # (lookups, rebuild). Bulk ingest (1M rows a morning) paid a row-by-row check and two
    # randomly placed index entries per row for them: a quarter of its time (bench/ingest.py).
    sampling_id: Mapped[int] = mapped_column(Integer)
    # Copies of the sampling's resident and tube.
    resident_id: Mapped[int] = mapped_column(Integer)
    tube_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24))
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The statuses a row ends in; spelled as in the index's predicate, which a query must repeat.
OUTBOX_FINISHED = "status IN ('sent', 'refused', 'no_subscription', 'failed')"


class OutboxMessage(Base):
    """One push to send: written in the same transaction as the result it announces.

    Only ids: which person result, to which account, for which version of the result (0 for
    the first result, n after the n-th amendment). The worker builds the message from the
    person result, the resident and the tube's history when it sends (``notify/payloads.py``):
    bulk ingest writes ~1.1M of these rows a morning, and a JSON payload built through six
    joins was most of its cost (bench/ingest.py).

    ``status``: ``pending`` (a worker may hold a lease on it: ``claimed_until``) → ``sending``
    (acceptance spent, the platform may have been called; never re-sent) → ``sent`` |
    ``refused`` (43101, never retried) | ``no_subscription`` | ``failed`` (gave up, or delivery
    unknown). See ``miniapp_api/notify/worker.py`` for the crash windows.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # One message per (result event, account). It leads with person_result_id, so deleting
        # person results (retention, the foreign key's check) does not scan the outbox either.
        UniqueConstraint("person_result_id", "account_id", "version"),
        # The worker's claim query: due pending rows in order, without sorting the whole table.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # The reaper's query (rows left sending past their deadline): a small partial index
        # instead of one on status, which every ingested row would have to update.
        Index(
            "ix_outbox_sending",
            "claimed_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        # Retention's query (finished rows queued long ago): partial, so ingest, which writes
        # pending rows only, never updates it.
        Index(
            "ix_outbox_finished",
            "created_at",
            postgresql_where=text(OUTBOX_FINISHED),
            sqlite_where=text(OUTBOX_FINISHED),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys: ingest writes these ids from the person results' RETURNING and the
    # account_residents rows in the same statement, and the two row-by-row checks were a third
    # of its cost (bench/ingest.py). A row whose result or account is gone (no code deletes
    # either) is failed by the worker, nothing spent.
    person_result_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(Integer)
    # The result's version the message announces: 0 first, n after the n-th amendment.
    version: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    platform_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
