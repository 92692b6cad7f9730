"""Accepted subscriptions: how many one-time messages an account may still be sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
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
