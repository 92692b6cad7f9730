"""Removing audit rows past their retention without breaking the chains they belong to.

A chain can only lose a *prefix*: removing a row from its middle is exactly what ``verify``
reports as tampering. So one batch takes the oldest rows past the cutoff (by ``at``, through
``ix_audit_events_at``), and for each chain among them removes its rows up to the last one
that is older than the cutoff and has no younger row before it, after recording that chain's
anchor (:class:`~miniapp_api.audit.models.AuditAnchor`): the last removed row's id and hash
and the cutoff. The database refuses to delete a row its chain's anchor does not cover
(migration 0011), so nothing else can delete audit rows, and this cannot delete young ones.

Runs in the caller's transaction (``miniapp_api/retention`` owns it, one per batch): the anchor
and the deletion commit together, so an interrupted purge leaves every chain verifiable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from miniapp_api.audit.models import AuditAnchor, AuditEvent
from miniapp_api.db import as_utc
from miniapp_api.dialects import insert_for


def purge_batch(session: Session, *, before: datetime, limit: int, now: datetime) -> int:
    """Remove up to about ``limit`` of the oldest rows older than ``before``, whole chain
    prefixes only; how many went (0: none left that can go now)."""
    before = as_utc(before)
    oldest = session.execute(
        select(AuditEvent.id, AuditEvent.actor_kind, AuditEvent.actor)
        .where(AuditEvent.at < before)
        .order_by(AuditEvent.at, AuditEvent.id)
        .limit(limit)
    ).all()
    last_seen: dict[tuple[str, str], int] = {}
    for row in oldest:
        chain = (row.actor_kind, row.actor)
        last_seen[chain] = max(row.id, last_seen.get(chain, 0))
    removed = 0
    for (kind, actor), last_id in sorted(last_seen.items()):
        removed += _remove_prefix(session, kind, actor, up_to=last_id, before=before, now=now)
    return removed


def _remove_prefix(
    session: Session, kind: str, actor: str, *, up_to: int, before: datetime, now: datetime
) -> int:
    """Remove the chain's rows up to ``up_to``, or up to its first row not older than
    ``before`` if one comes earlier (a row's ``at`` is its writer's clock, not the id order)."""
    chain = (AuditEvent.actor_kind == kind, AuditEvent.actor == actor)
    # Rows of the chain up to ``up_to`` are those left to purge: a short range of its index.
    young = session.scalar(
        select(func.min(AuditEvent.id)).where(
            *chain, AuditEvent.id <= up_to, AuditEvent.at >= before
        )
    )
    limit = AuditEvent.id <= up_to if young is None else AuditEvent.id < young
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash)
        .where(*chain, limit)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return 0
    anchor = {"last_id": last.id, "hash": last.hash, "purged_before": before, "purged_at": now}
    upsert = insert_for(session, AuditAnchor).values(actor_kind=kind, actor=actor, **anchor)
    session.execute(
        upsert.on_conflict_do_update(index_elements=["actor_kind", "actor"], set_=anchor)
    )
    result = session.execute(
        delete(AuditEvent)
        .where(*chain, AuditEvent.id <= last.id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
