"""``audit_events``: one row per audited act, each carrying the hash of its actor's row before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from miniapp_api.db import Base


class AuditEvent(Base):
    """Who (a pseudonymous id) did what to which object, when, in which request.

    Never a personal value: ``actor`` is a staff id, an operator's name or an account's public
    id, ``object`` a public id (a tube number, a resident's public id). ``hash`` is the SHA-256
    of the row's fields and ``prev_hash``, the hash of the actor's row before
    (``audit/service.py``); PostgreSQL refuses UPDATE and DELETE on the table (migration 0007).
    """

    __tablename__ = "audit_events"
    # An actor's last row, read at every append (each actor has a chain of its own).
    __table_args__ = (Index("ix_audit_events_chain", "actor_kind", "actor", "id"),)

    # BIGINT on PostgreSQL; SQLite numbers rows only through an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_kind: Mapped[str] = mapped_column(
        String(16)
    )  # staff, operator, reviewer, account, system
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(128), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """Where an actor's chain now starts, after the retention purge removed its oldest rows.

    ``hash`` is the hash of the last row purged: the ``prev_hash`` the chain's first remaining
    row carries, which ``verify`` accepts in place of the genesis hash. The database lets an
    audit row be deleted only while its chain's anchor covers it (``id <= last_id`` and
    ``at < purged_before``); anchors are never deleted and only move forward (migration 0011).
    Written only by :func:`miniapp_api.audit.purge.purge_batch`.
    """

    __tablename__ = "audit_anchors"

    actor_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    purged_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
