"""An account is one platform login: (platform, app id, subject)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


def new_public_id(prefix: str) -> str:
    """An opaque random id for the API; internal integer keys never leave the database."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "app_id", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("a")
    )
    platform: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(64))
    # openid (WeChat) or user_id/open_id (Alipay): a platform identifier, never from the client.
    subject: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(128))
    # WeChat session_key, AES-GCM encrypted; needed for the legacy encryptedData phone flow.
    session_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The platform-verified phone of this login, encrypted, with its blind index.
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
