"""Labs, rounds, sites, staff, tubes, and the binding of a resident to a tube in a round."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, new_public_id, utcnow


class Lab(Base):
    """A lab that receives sites' tubes, registered by operators (``sampling/setup.py``), with its
    upload secret (encrypted at rest: verifying its signatures needs the secret; ``lab/``)."""

    __tablename__ = "labs"

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[str] = mapped_column(String(32), unique=True)  # sent as X-Lab-Id
    name: Mapped[str] = mapped_column(String(128), unique=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # While a secret rotates (``miniapp labs rotate-secret``): the old secret, still accepted
    # until ``previous_secret_until``.
    previous_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScreeningRound(Base):
    """A screening round an operator opens, e.g. "2022-03-16 Pudong"."""

    __tablename__ = "screening_rounds"
    __table_args__ = (
        # At most one open round: the scans bind into "the" open round.
        Index(
            "uq_screening_rounds_one_open",
            text("(closed_at IS NULL)"),
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("rd")
    )
    name: Mapped[str] = mapped_column(String(128), unique=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Site(Base):
    """A sampling site. Its tubes go to ``lab_id``'s lab."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(24), unique=True, default=lambda: new_public_id("st")
    )
    name: Mapped[str] = mapped_column(String(128), unique=True)
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("labs.id"))


class Staff(Base):
    """A sampling staff member; password hashed with argon2."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Tube(Base):
    """A sample tube holding 1, 5, 10 or 20 swabs; open until closed by staff."""

    __tablename__ = "tubes"

    id: Mapped[int] = mapped_column(primary_key=True)
    tube_no: Mapped[str] = mapped_column(String(32), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("screening_rounds.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("labs.id"), index=True)
    capacity: Mapped[int] = mapped_column(Integer)
    bound_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Sampling(Base):
    """A resident sampled into a tube. Unique per round: nobody is bound twice in a round."""

    __tablename__ = "samplings"
    __table_args__ = (
        UniqueConstraint("round_id", "resident_id"),
        # Retention walks samplings that never got a result in this order.
        Index("ix_samplings_scanned_at", "scanned_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("screening_rounds.id"))
    # residents.id, without a foreign key (0010): account deletion keeps a removed resident's
    # samplings without identity, as minus their own id (miniapp_api/rights/deletion.py).
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    tube_id: Mapped[int] = mapped_column(ForeignKey("tubes.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    code_id: Mapped[str] = mapped_column(String(32))
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScanReceipt(Base):
    """The answer given to one scan item, so a re-sent ``client_id`` gets the same answer."""

    __tablename__ = "scan_receipts"
    __table_args__ = (
        UniqueConstraint("staff_id", "client_id"),
        Index("ix_scan_receipts_created_at", "created_at"),  # retention (0014)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
