"""The result pipeline: tube results → person results → outbox rows → read-model entries.

One home for what a lab's result sets off. Lab ingest calls :func:`store_tube_results` once per
batch; an amendment calls :func:`fan_out` for its tube. Both run in the caller's transaction,
so the results, the person results and the messages that announce them commit together (the
push worker sends the messages: ``notify/worker.py``). After the commit, :func:`publish` writes
the read-model entries to Redis (which drops the results screens kept from them:
``readmodel.py``): the database is the system of record, and ``miniapp readmodel rebuild``
repairs a write that Redis missed.

Set-based, for bulk ingest (100,000 tubes x 10 people): on PostgreSQL ONE statement per call
upserts every person result of the given tubes, writes their outbox rows from the upsert's
``RETURNING`` and reads the read-model entries, so person_results (which grows all morning) is
never scanned. SQLite (the embedded default) has no ``INSERT`` in a ``WITH``: the same steps run
as three statements. The person's state follows :mod:`miniapp_api.results.states`.

A message goes to every account holding the resident (self or as a dependent): one outbox row
per (person result, account, version), version 0 for the first result and n after the n-th
amendment (an amendment notifies again). The row holds ids only; the worker builds the
message when it sends it (``notify/payloads.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, any_, func, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert

from miniapp_api.dialects import array_param, insert_for, is_postgresql
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.redis_client import REDIS_ERRORS
from miniapp_api.residents.models import AccountResident, Resident
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult
from miniapp_api.results.states import person_state
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewTubeResult:
    """A tube's first result, checked by the caller (lab ingest)."""

    tube_id: int
    result: str  # negative | positive | invalid
    tested_at: datetime  # aware


@dataclass(frozen=True)
class FannedOut:
    tubes: frozenset[int]  # the tubes whose people's results were set
    people: dict[int, int]  # tube id → people whose result was set
    entries: list[tuple[str, ResultEntry]]  # (resident public id, entry) for the read model


NOTHING = FannedOut(frozenset(), {}, [])


def store_tube_results(
    session: Session, results: Sequence[NewTubeResult], *, lab_id: int, now: datetime
) -> FannedOut:
    """Store first results and fan them out. A tube whose result another transaction stored
    first is skipped (it is not in ``tubes`` of the answer): a final result is never
    overwritten here."""
    stored = _insert_tube_results(session, sorted(results, key=lambda r: r.tube_id), lab_id, now)
    return fan_out(session, sorted(stored), version=0, now=now)


def fan_out(session: Session, tube_ids: Sequence[int], *, version: int, now: datetime) -> FannedOut:
    """Set the person results of ``tube_ids`` from their tube results and enqueue the pushes.

    ``version`` is 0 for a first result and the amendment count after an amendment: it is part
    of the messages' identity, so an amendment notifies again.
    """
    if not tube_ids:
        return NOTHING
    rows: Sequence[Any]
    if is_postgresql(session):
        session.flush()  # the Core connection below does not autoflush (an amended result)
        # Core, not the ORM's result machinery: ~10,000 rows a batch, ~10% of its Python time.
        # .all(): one fetchall, not a fetchone per row.
        statement = _chain(session, sorted(tube_ids), version, now)
        rows = session.connection().execute(statement).all()
    else:
        _upsert_person_results(session, tube_ids, now)
        _enqueue(session, tube_ids, version, now)
        rows = session.execute(_entries(tube_ids)).all()
    people: dict[int, int] = {}
    entries: list[tuple[str, ResultEntry]] = []
    for tube_id, resident_id, tube_no, round_name, site_name, sampled, state, tested in rows:
        people[tube_id] = people.get(tube_id, 0) + 1
        entry = ResultEntry(tube_no, round_name, site_name, _aware(sampled), state, _aware(tested))
        entries.append((resident_id, entry))
    return FannedOut(frozenset(tube_ids), people, entries)


def publish(readmodel: ResultReadModel, fanned: FannedOut) -> None:
    """After the commit: the entries into the read model. A failure leaves the results safe in
    the database; ``miniapp readmodel rebuild`` repairs it."""
    if not fanned.entries:
        return
    try:
        readmodel.record(fanned.entries)
    except REDIS_ERRORS:
        log.error(
            "results read model update failed for %d entries; run `miniapp readmodel rebuild`",
            len(fanned.entries),
        )


def _aware(moment: datetime) -> datetime:
    """Like ``as_utc`` without the conversion (costly in bulk) where only the instant counts."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- tube results -------------------------------------------------------------------------------


def _insert_tube_results(
    session: Session, results: Sequence[NewTubeResult], lab_id: int, now: datetime
) -> set[int]:
    """Insert in tube id order (a stable lock order between concurrent batches), skipping the
    tubes another transaction stored first. Returns the tube ids stored here."""
    if not results:
        return set()
    if is_postgresql(session):
        return set(session.scalars(_insert_unnested(session, results, lab_id, now)))
    rows = [
        {
            "tube_id": r.tube_id,
            "lab_id": lab_id,
            "result": r.result,
            "tested_at": r.tested_at.astimezone(UTC),
            "received_at": now,
        }
        for r in results
    ]
    stmt = (
        insert_for(session, TubeResult.__table__)
        .on_conflict_do_nothing(index_elements=["tube_id"])
        .returning(TubeResult.__table__.c.tube_id)
    )
    return set(session.scalars(stmt, rows))


def _insert_unnested(
    session: Session, results: Sequence[NewTubeResult], lab_id: int, now: datetime
) -> Any:
    """PostgreSQL: the rows as three arrays (``unnest``) instead of 5 parameters a row (5,000
    a batch: handling them was about half of this statement's time). ``lab_id`` and
    ``received_at`` are the batch's, the same in every row."""
    given = (
        func.unnest(
            array_param("tube_id", [r.tube_id for r in results], Integer()),
            array_param("result", [r.result for r in results], String()),
            array_param(
                "tested_at", [r.tested_at.astimezone(UTC) for r in results], DateTime(timezone=True)
            ),
        )
        .table_valued("tube_id", "result", "tested_at")
        .render_derived()
    )
    source = select(
        given.c.tube_id,
        literal(lab_id, Integer),
        given.c.result,
        given.c.tested_at,
        literal(now, DateTime(timezone=True)),
    ).order_by(given.c.tube_id)
    columns = ["tube_id", "lab_id", "result", "tested_at", "received_at"]
    return (
        insert_for(session, TubeResult)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["tube_id"])
        .returning(TubeResult.tube_id)
    )


# --- person results, outbox rows, read-model entries --------------------------------------------


def _chain(session: Session, tube_ids: list[int], version: int, now: datetime) -> Any:
    """PostgreSQL: one statement that upserts the person results, inserts the outbox rows from
    the upsert's ``RETURNING`` and reads the read model entries from the same source, so that
    person_results (which grows all morning) is never scanned::

        WITH src AS (samplings ⋈ tube_results ⋈ tubes of the tubes),
             up  AS (INSERT INTO person_results SELECT .. FROM src ON CONFLICT .. RETURNING ..),
             ob  AS (INSERT INTO outbox SELECT .. FROM up ⋈ account_residents)
        SELECT .. FROM src ⋈ residents ⋈ screening_rounds ⋈ sites
    """
    ids = any_(array_param("tube_ids", tube_ids, Integer()))
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
    upsert = insert_for(session, PersonResult).from_select(
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
    ob = _outbox_rows(up, version, now).cte("ob")
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


_OUTBOX_COLUMNS = (
    "person_result_id",
    "account_id",
    "version",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def _outbox_rows(results: Any, version: int, now: datetime) -> Insert:
    """The INSERT of a ``pending`` message per (person result in ``results``, account holding
    its resident); ``results`` is a selectable with the columns ``id`` and ``resident_id``
    (the person results' ``RETURNING`` on PostgreSQL)."""
    stamp = literal(now, DateTime(timezone=True))
    source = select(
        results.c.id,
        AccountResident.account_id,
        literal(version, Integer),
        literal("pending"),
        literal(0, Integer),
        stamp,
        stamp,
    ).join(AccountResident, AccountResident.resident_id == results.c.resident_id)
    return insert(OutboxMessage).from_select(_OUTBOX_COLUMNS, source)


def _enqueue(session: Session, tube_ids: Sequence[int], version: int, now: datetime) -> None:
    """SQLite: the outbox rows of the person results of ``tube_ids`` (a statement of its own)."""
    results = (  # driven from the samplings, indexed by tube (person_results is not)
        select(PersonResult.id, PersonResult.resident_id)
        .join(Sampling, Sampling.id == PersonResult.sampling_id)
        .where(Sampling.tube_id.in_(tube_ids))
        .subquery()
    )
    session.execute(_outbox_rows(results, version, now))
