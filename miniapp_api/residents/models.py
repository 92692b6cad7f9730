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
    false,
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
    # Made by review mode from the reserved range (miniapp_api/review): never a real person.
    synthetic: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ProxyReason(StrEnum):
    """Why someone else may hold a person's record (the city's rule for proxies)."""

    MINOR = "minor"  # under 18
    ELDERLY = "elderly"  # 60 and over
    UNABLE = "unable"  # declared unable to apply themselves, by the account that added them


class AccountResident(Base):
    """An account holds a resident as ``self`` (at most one) or as a ``dependent``.

    ``verified_at`` (self links): when the platform's real-name check vouched that this login is
    the person; a self link without it is a claim (name + phone, or first to declare), which a
    verified claim of the real person takes over. ``proxy_reason`` (dependent links): which rule
    let the account hold them. ``public_id`` names the link to the person it holds, who may
    remove it.
    """

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
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("h")
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    proxy_reason: Mapped[str | None] = mapped_column(String(16))
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
    # Indexed: deleting a resident (account deletion, the review sandbox's reset) finds the
    # guardian consents given for them through it, instead of scanning every consent.
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    # A document's name (miniapp_api/legal/documents.py) or "guardian" (for ``resident_id``).
    kind: Mapped[str] = mapped_column(String(32))
    document_version: Mapped[str] = mapped_column(String(32))
    # The SHA-256 of the page shown, and where the consent was given (wechat, alipay, review).
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    resident: Mapped[Resident | None] = relationship()


class LinkStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class LinkRequest(Base):
    """An account asks to hold an existing person's record; a holder of it approves or declines.

    Every request on an existing ID number is recorded and answered alike, so the answer tells
    nothing about the record. ``approvable`` is false when no holder may see it (the name did
    not match, the person has their own login, or nobody holds the record): it stays pending
    until it lapses. ``name_masked`` is the masked name the requester typed, never the record's.
    """

    __tablename__ = "link_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("l")
    )
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    name_masked: Mapped[str] = mapped_column(String(64))
    proxy_reason: Mapped[str] = mapped_column(String(16))
    approvable: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16), default=LinkStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    requester: Mapped[Account] = relationship()
    resident: Mapped[Resident] = relationship()


class NoticeKind(StrEnum):
    """What an account is told in ``GET /me`` (and by push where the platform allows)."""

    CLAIM_TAKEN_OVER = "claim_taken_over"  # the real person verified and took the record
    HOLDER_REMOVED = "holder_removed"  # the person removed you as a holder of their record
    HOLDER_ADDED = "holder_added"  # someone else now also holds a record you hold
    LINK_REQUESTED = "link_requested"  # someone asks to hold a record you hold
    LINK_APPROVED = "link_approved"
    LINK_DECLINED = "link_declined"


class Notice(Base):
    """Something that happened to an account's holdings, shown to it (masked) and pushed.

    ``push_status``: ``pending`` (due at ``push_after``, if set) → ``sending`` → ``sent``,
    ``no_subscription``, ``refused``, ``failed`` or ``skipped`` (``miniapp_api/notify/notices.py``);
    ``push_attempts`` counts the calls made. A notice is shown in ``GET /me`` whatever its push
    became.
    """

    __tablename__ = "notices"
    __table_args__ = (
        Index(
            "ix_notices_push_pending",
            "id",
            postgresql_where=text("push_status = 'pending'"),
            sqlite_where=text("push_status = 'pending'"),
        ),
        Index("ix_notices_created_at", "created_at"),  # retention: notices of long ago
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    name_masked: Mapped[str] = mapped_column(String(64))
    push_status: Mapped[str] = mapped_column(String(16), default="pending")
    push_attempts: Mapped[int] = mapped_column(default=0)
    push_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
