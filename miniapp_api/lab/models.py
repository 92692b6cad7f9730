"""Labs, tube results with their amendment history, and idempotent upload requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


class Lab(Base):
    """A lab with its upload secret (encrypted at rest: HMAC verification needs the secret)."""

    __tablename__ = "labs"

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[str] = mapped_column(String(32), unique=True)  # sent as X-Lab-Id
    name: Mapped[str] = mapped_column(String(128), unique=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TubeResult(Base):
    """The current final result of a tube. Never overwritten by an upload; amended explicitly."""

    __tablename__ = "tube_results"

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


class LabRequest(Base):
    """An ``Idempotency-Key`` seen from a lab: the body's hash and the answer given."""

    __tablename__ = "lab_requests"
    __table_args__ = (UniqueConstraint("lab_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # in_flight | done
    response_status: Mapped[int | None]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
