"""Rebuilding the Redis read model of results from the database, the system of record.

``miniapp readmodel rebuild`` runs it after Redis lost data (a failover, a flush); it is safe
while the service runs: entries are overwritten in place, never cleared first. The results
screens kept in accounts' views (``miniapp_api/accountview.py``) are not touched: they were
lost with the data or are rebuilt from the repaired model within two minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.residents.models import Resident
from miniapp_api.results.models import PersonResult
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube


def rebuild_read_model(session: Session, readmodel: ResultReadModel, *, batch_size: int) -> int:
    """Write every sampling's entry from the database into Redis, in batches; returns how many.

    Entries are overwritten, not cleared first, so lookups keep working during a rebuild. An
    ingest committing while a batch is in flight could have its fresh entry overwritten by
    the older one read here, so each batch's states are read again after writing it and the
    ones that changed are written once more (the ingest's own write comes after its commit).
    """
    after, total = 0, 0
    while True:
        rows = session.execute(_entries_after(after, batch_size)).all()
        session.rollback()
        if not rows:
            return total
        readmodel.record(_entries(rows))
        first, after = rows[0].sampling_id, rows[-1].sampling_id
        states = _states(session, first, after)
        changed = [
            r for r in rows if states.get(r.sampling_id, (None, None)) != (r.state, r.tested_at)
        ]
        if changed:
            fresh = session.execute(_entries_of([r.sampling_id for r in changed])).all()
            readmodel.record(_entries(fresh))
        session.rollback()
        total += len(rows)


def _entry_query() -> Any:
    return (
        select(
            Sampling.id.label("sampling_id"),
            Resident.public_id.label("resident_id"),
            Tube.tube_no,
            ScreeningRound.name.label("round_name"),
            Site.name.label("site_name"),
            Sampling.scanned_at,
            PersonResult.state,
            PersonResult.tested_at,
        )
        .join(Resident, Resident.id == Sampling.resident_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .join(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .join(Site, Site.id == Sampling.site_id)
        .outerjoin(PersonResult, PersonResult.sampling_id == Sampling.id)
    )


def _entries_after(after: int, limit: int) -> Any:
    return _entry_query().where(Sampling.id > after).order_by(Sampling.id).limit(limit)


def _entries_of(sampling_ids: list[int]) -> Any:
    return _entry_query().where(Sampling.id.in_(sampling_ids))


def _states(session: Session, first: int, last: int) -> dict[int, tuple[str | None, Any]]:
    query = select(PersonResult.sampling_id, PersonResult.state, PersonResult.tested_at).where(
        PersonResult.sampling_id.between(first, last)
    )
    return {r.sampling_id: (r.state, r.tested_at) for r in session.execute(query)}


def _entries(rows: Iterable[Any]) -> list[tuple[str, ResultEntry]]:
    return [
        (
            r.resident_id,
            ResultEntry(
                tube_no=r.tube_no,
                round_name=r.round_name,
                site_name=r.site_name,
                sampled_at=as_utc(r.scanned_at),
                state=r.state or "pending",
                tested_at=as_utc(r.tested_at) if r.tested_at is not None else None,
            ),
        )
        for r in rows
    ]
