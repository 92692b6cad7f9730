"""Accepted subscriptions and the transactional outbox of push messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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

    ``status``: ``pending`` (a worker may hold a lease on it: ``claimed_until``) → ``sending``
    (acceptance spent, the platform may have been called; never re-sent) → ``sent`` |
    ``refused`` (43101, never retried) | ``no_subscription`` | ``failed`` (gave up, or delivery
    unknown). See ``miniapp_api/notify/worker.py`` for the crash windows.
    """

    __tablename__ = "outbox"
    __table_args__ = (
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
    # e.g. "result:<person_result id>:<account id>:<result version>": one message per event.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    # Indexed: deleting person results (retention, amendments) must not scan the outbox.
    person_result_id: Mapped[int] = mapped_column(ForeignKey("person_results.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    platform_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
