"""Idempotent upload requests of the labs (the labs themselves are registered with the sites:
``sampling/models.py``; their results are ``results/models.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base, utcnow


class LabRequest(Base):
    """An ``Idempotency-Key`` seen from a lab: the body's hash and the answer given."""

    __tablename__ = "lab_requests"
    __table_args__ = (
        UniqueConstraint("lab_id", "idempotency_key"),
        Index("ix_lab_requests_created_at", "created_at"),  # retention (0014)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # in_flight | done
    response_status: Mapped[int | None]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
