"""Issued registration codes. The token itself is never stored: only its id and lifecycle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


class RegistrationCode(Base):
    """One issued code. Re-issuing sets ``revoked_at`` on the previous one (at most one live)."""

    __tablename__ = "registration_codes"
    __table_args__ = (
        Index(
            "uq_registration_codes_one_live",
            "resident_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
        # Retention: codes that ended (expired or revoked) long ago.
        Index("ix_registration_codes_expires_at", "expires_at"),
        Index("ix_registration_codes_revoked_at", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[str] = mapped_column(String(32), unique=True)  # the token's random "jti"
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    kid: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
