"""Accounts (platform logins), residents (natural persons), the links between them, consents."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from miniapp_api.db import Base, new_public_id, utcnow


class Account(Base):
    """One platform login: (platform, app id, subject). Created by ``auth`` at first login."""

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


class Relation(StrEnum):
    SELF = "self"
    DEPENDENT = "dependent"


class Resident(Base):
    """One natural person. Name, ID number and phone are encrypted; masked copies for display."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("r")
    )
    id_type: Mapped[str] = mapped_column(String(24))
    # HMAC blind index of (id type, normalized number): how a person is found, never by plaintext.
    id_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_masked: Mapped[str] = mapped_column(String(32))
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_masked: Mapped[str] = mapped_column(String(64))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class AccountResident(Base):
    """An account holds a resident as ``self`` (at most one) or as a ``dependent``."""

    __tablename__ = "account_residents"
    __table_args__ = (
        UniqueConstraint("account_id", "resident_id"),
        Index(
            "uq_account_residents_one_self",
            "account_id",
            unique=True,
            postgresql_where=text("relation = 'self'"),
            sqlite_where=text("relation = 'self'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    account: Mapped[Account] = relationship()
    resident: Mapped[Resident] = relationship(lazy="joined")


class Consent(Base):
    """A consent an account gave: to a document version, or as guardian of a dependent."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    document_version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    resident: Mapped[Resident | None] = relationship()
