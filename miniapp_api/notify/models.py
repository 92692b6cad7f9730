"""Accepted subscriptions and the transactional outbox of push messages."""

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


class Subscription(Base):
    """How many one-time accepts an account has left for a message template."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("account_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(128))
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


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
