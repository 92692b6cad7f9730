"""Fan-out: tube results → one person result per person sampled into the tube, and their pushes.

Set-based, for bulk ingest (100,000 tubes x 10 people): on PostgreSQL ONE statement per call
upserts every person result of the given tubes, writes their outbox rows
(:mod:`miniapp_api.notify.outbox`) from the upsert's ``RETURNING`` and reads the read model
entries, in the caller's transaction; the entries are written to Redis after the commit.

A person's state: ``negative`` and ``invalid`` as the tube; a ``positive`` tube is
``positive`` for a single-person tube (capacity 1) and ``retest_required`` for everyone in a
pooled tube (DESIGN §1: a positive pool sends all its people to single-tube re-tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, any_, bindparam, case, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from miniapp_api.lab.models import TubeResult
from miniapp_api.notify.outbox import enqueue_results, insert_messages
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


def person_state_of(result: str, capacity: int) -> str:
    """:func:`person_state` in Python (the worker rebuilds an amended message's state)."""
    if result == "positive":
        return "positive" if capacity == 1 else "retest_required"
    return result


@dataclass(frozen=True)
class FannedOut:
    people: dict[int, int]  # tube id → people whose result was set
    entries: list[tuple[str, ResultEntry]]  # (resident public id, entry) for the read model


def fan_out(session: Session, tube_ids: Sequence[int], version: int, now: datetime) -> FannedOut:
    """Set the person results of ``tube_ids`` from their tube results and enqueue the pushes.

    ``version`` is 0 for a first result and the amendment count after an amendment: it is part
    of the messages' identity, so an amendment notifies again.
    """
    if not tube_ids:
        return FannedOut({}, [])
    rows: Sequence[Any]
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # the Core connection below does not autoflush (an amended result)
        # Core, not the ORM's result machinery: ~10,000 rows a batch, ~10% of its Python time.
        # .all(): one fetchall, not a fetchone per row.
        rows = session.connection().execute(_chain(sorted(tube_ids), version, now)).all()
    else:  # SQLite (embedded) has no INSERT in a WITH: the same in three statements
        _upsert_person_results(session, tube_ids, now)
        enqueue_results(session, tube_ids, version, now)
        rows = session.execute(_entries(tube_ids)).all()
    people: dict[int, int] = {}
    entries: list[tuple[str, ResultEntry]] = []
    for tube_id, resident_id, tube_no, round_name, site_name, sampled, state, tested in rows:
        people[tube_id] = people.get(tube_id, 0) + 1
        entry = ResultEntry(tube_no, round_name, site_name, aware(sampled), state, aware(tested))
        entries.append((resident_id, entry))
    return FannedOut(people, entries)


def _chain(tube_ids: list[int], version: int, now: datetime) -> Any:
    """PostgreSQL: one statement that upserts the person results, inserts the outbox rows from
    the upsert's ``RETURNING`` and reads the read model entries from the same source, so that
    person_results (which grows all morning) is never scanned::

        WITH src AS (samplings ⋈ tube_results ⋈ tubes of the tubes),
             up  AS (INSERT INTO person_results SELECT .. FROM src ON CONFLICT .. RETURNING ..),
             ob  AS (INSERT INTO outbox SELECT .. FROM up ⋈ account_residents)
        SELECT .. FROM src ⋈ residents ⋈ screening_rounds ⋈ sites
    """
    ids = any_(bindparam("tube_ids", tube_ids, type_=postgresql.ARRAY(Integer)))
    # Each table is restricted by the ids itself, not only through the joins: the planner can
    # then reach each through its own index whatever it believes of tables growing all morning.
    src = (
        select(
            Sampling.id.label("sampling_id"),
            Sampling.resident_id,
            Sampling.tube_id,
            Sampling.round_id,
            Sampling.site_id,
            Sampling.scanned_at,
            Tube.tube_no,
            person_state().label("state"),
            TubeResult.tested_at,
        )
        .join(TubeResult, TubeResult.tube_id == Sampling.tube_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .where(Sampling.tube_id == ids, TubeResult.tube_id == ids, Tube.id == ids)
        .cte("src")
    )
    upsert = postgresql.insert(PersonResult).from_select(
        _PERSON_RESULT_COLUMNS,
        select(
            src.c.sampling_id,
            src.c.resident_id,
            src.c.tube_id,
            src.c.state,
            src.c.tested_at,
            literal(now, DateTime(timezone=True)),
        ),
    )
    up = (
        upsert.on_conflict_do_update(
            index_elements=[PersonResult.sampling_id], set_=_updated(upsert)
        )
        .returning(PersonResult.id, PersonResult.resident_id)
        .cte("up")
    )
    ob = insert_messages(up, version, now).cte("ob")
    return (
        select(
            src.c.tube_id,
            Resident.public_id,
            src.c.tube_no,
            ScreeningRound.name,
            Site.name,
            src.c.scanned_at,
            src.c.state,
            src.c.tested_at,
        )
        .select_from(src)
        .join(Resident, Resident.id == src.c.resident_id)
        .join(ScreeningRound, ScreeningRound.id == src.c.round_id)
        .join(Site, Site.id == src.c.site_id)
        .add_cte(ob)
    )


_PERSON_RESULT_COLUMNS = [
    "sampling_id",
    "resident_id",
    "tube_id",
    "state",
    "tested_at",
    "updated_at",
]


def _updated(stmt: Any) -> dict[str, Any]:
    """An existing person result (an amendment) takes the new state and times."""
    return {
        "state": stmt.excluded.state,
        "tested_at": stmt.excluded.tested_at,
        "updated_at": stmt.excluded.updated_at,
    }


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
    stmt = insert_for(session, PersonResult).from_select(_PERSON_RESULT_COLUMNS, source)
    session.execute(
        stmt.on_conflict_do_update(index_elements=[PersonResult.sampling_id], set_=_updated(stmt))
    )


def _entries(tube_ids: Sequence[int]) -> Any:
    """What the read model needs of each person result of the tubes (driven from the samplings:
    person_results grows during a morning of ingest and its statistics lag behind)."""
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
