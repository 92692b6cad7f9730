"""Fan-out: tube results → one person result per person sampled into the tube, and their pushes.

Set-based, for bulk ingest (100,000 tubes x 10 people): per call one ``INSERT ... SELECT``
upserts every person result of the given tubes, another writes their outbox rows
(:mod:`miniapp_api.notify.outbox`), both in the caller's transaction, and one SELECT reads the
read model entries, returned to be written to Redis after the commit.

A person's state: ``negative`` and ``invalid`` as the tube; a ``positive`` tube is
``positive`` for a single-person tube (capacity 1) and ``retest_required`` for everyone in a
pooled tube (DESIGN §1: a positive pool sends all its people to single-tube re-tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, case, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from miniapp_api.lab.models import TubeResult
from miniapp_api.notify.outbox import enqueue_results
from miniapp_api.residents.models import Resident
from miniapp_api.results.models import PersonResult
from miniapp_api.results.readmodel import ResultEntry
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube


def aware(moment: datetime) -> datetime:
    """Like :func:`as_utc` without the conversion (costly in bulk) where only the instant counts."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def insert_for(session: Session, model: Any) -> Any:
    """The dialect's INSERT (it has ``on_conflict_do_*``); PostgreSQL, or SQLite embedded."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def person_state() -> ColumnElement[str]:
    """SQL for a person's state from the tube result and the tube's capacity."""
    return case(
        (
            TubeResult.result == "positive",
            case((Tube.capacity == 1, "positive"), else_="retest_required"),
        ),
        else_=TubeResult.result,
    )


@dataclass(frozen=True)
class FannedOut:
    people: dict[int, int]  # tube id → people whose result was set
    entries: list[tuple[str, ResultEntry]]  # (resident public id, entry) for the read model


def fan_out(session: Session, tube_ids: Sequence[int], version: int, now: datetime) -> FannedOut:
    """Set the person results of ``tube_ids`` from their tube results and enqueue the pushes.

    ``version`` is 0 for a first result and the amendment count after an amendment: it is part
    of the messages' dedupe keys, so an amendment notifies again.
    """
    if not tube_ids:
        return FannedOut({}, [])
    _upsert_person_results(session, tube_ids, now)
    enqueue_results(session, tube_ids, version, now)
    people: dict[int, int] = {}
    entries: list[tuple[str, ResultEntry]] = []
    for (
        tube_id,
        resident_id,
        tube_no,
        round_name,
        site_name,
        sampled,
        state,
        tested,
    ) in session.execute(_entries(tube_ids)):
        people[tube_id] = people.get(tube_id, 0) + 1
        entry = ResultEntry(tube_no, round_name, site_name, aware(sampled), state, aware(tested))
        entries.append((resident_id, entry))
    return FannedOut(people, entries)


def _upsert_person_results(session: Session, tube_ids: Sequence[int], now: datetime) -> None:
    source = (
        select(
            Sampling.id,
            Sampling.resident_id,
            Sampling.tube_id,
            person_state(),
            TubeResult.tested_at,
            literal(now, DateTime(timezone=True)),
        )
        .join(TubeResult, TubeResult.tube_id == Sampling.tube_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .where(Sampling.tube_id.in_(tube_ids))
    )
    columns = ["sampling_id", "resident_id", "tube_id", "state", "tested_at", "updated_at"]
    stmt = insert_for(session, PersonResult).from_select(columns, source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[PersonResult.sampling_id],
        set_={
            "state": stmt.excluded.state,
            "tested_at": stmt.excluded.tested_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)


def _entries(tube_ids: Sequence[int]) -> Any:
    """What the read model needs of each person result of the tubes (driven from the samplings,
    as in :func:`miniapp_api.notify.outbox.enqueue_results`)."""
    return (
        select(
            Sampling.tube_id,
            Resident.public_id,
            Tube.tube_no,
            ScreeningRound.name,
            Site.name,
            Sampling.scanned_at,
            PersonResult.state,
            PersonResult.tested_at,
        )
        .select_from(Sampling)
        .join(PersonResult, PersonResult.sampling_id == Sampling.id)
        .join(Resident, Resident.id == Sampling.resident_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .join(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .join(Site, Site.id == Sampling.site_id)
        .where(Sampling.tube_id.in_(tube_ids))
    )
