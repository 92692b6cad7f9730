"""One batch of each kind of purge: rows chosen by an indexed predicate, deleted by key.

Each function runs inside the transaction :mod:`miniapp_api.retention.purge` opens for it and
returns a :class:`Step`: rows deleted per table, and whether the kind is done. Nothing here
commits. The indexes each predicate walks are named beside it (migration 0011 added those
that were missing); every batch touches at most about ``limit`` rows of its leading table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, Integer, delete, literal, select, text, tuple_
from sqlalchemy.orm import Session

from miniapp_api.audit.purge import purge_batch as purge_audit_batch
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.db import as_utc
from miniapp_api.dialects import insert_for, one_of
from miniapp_api.lab.models import LabRequest
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.models import Notice, Resident
from miniapp_api.results.models import (
    OUTBOX_FINISHED,
    OutboxMessage,
    PersonResult,
    TubeResult,
    TubeResultAmendment,
)
from miniapp_api.retention.models import RetentionProgress
from miniapp_api.sampling.models import Sampling, ScanReceipt, Tube

# The walk over samplings (retention_progress): every sampling before where it stopped, in
# (scanned_at, id) order, was looked at and either purged or found to have a result (it then
# goes with that result). New samplings are never dated that far back
# (SAMPLING.SCAN_WINDOW_HOURS), so the walk never needs to look behind it again.
SAMPLINGS_WALK = "samplings"
NOTICE_STILL_PUSHING = ("pending", "sending")


@dataclass(frozen=True)
class Step:
    deleted: Mapping[str, int]  # rows per table
    done: bool  # no further batch of this kind would find anything now


def _ids(session: Session, column: Any, values: Sequence[int]) -> ColumnElement[bool]:
    """``column IN values`` (one array parameter on PostgreSQL)."""
    return one_of(session, column, values, Integer())  # type: ignore[no-any-return]


def _run(session: Session, statement: Delete) -> int:
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def results(session: Session, *, before: datetime, limit: int, readmodel: ResultReadModel) -> Step:
    """Tubes tested before ``before`` (``ix_tube_results_tested_at``), whole, up to ``limit``
    people (at least one tube): their amendments, tube results, the person results
    (``uq_person_results_sampling_id``) and samplings (``ix_samplings_tube_id``) of their
    people, and those entries of the Redis read model (before the commit: if Redis is down
    the batch rolls back and nothing is gone that the read model still shows)."""
    oldest = session.execute(
        select(TubeResult.id, TubeResult.tube_id, Tube.bound_count)
        .join(Tube, Tube.id == TubeResult.tube_id)
        .where(TubeResult.tested_at < before)
        .order_by(TubeResult.tested_at)
        .limit(limit)
    ).all()
    if not oldest:
        return Step({}, done=True)
    chosen: list[Any] = []
    people = 0
    for row in oldest:
        if chosen and people + row.bound_count > limit:
            break
        chosen.append(row)
        people += row.bound_count
    tube_result_ids = [r.id for r in chosen]
    sampled = session.execute(
        select(Sampling.id, Resident.public_id, Tube.tube_no)
        .join(Tube, Tube.id == Sampling.tube_id)
        # Account deletion leaves samplings without a resident (miniapp_api/rights).
        .outerjoin(Resident, Resident.id == Sampling.resident_id)
        .where(_ids(session, Sampling.tube_id, [r.tube_id for r in chosen]))
    ).all()
    sampling_ids = [s.id for s in sampled]
    deleted = {
        "person_results": _run(
            session,
            delete(PersonResult).where(_ids(session, PersonResult.sampling_id, sampling_ids)),
        ),
        "tube_result_amendments": _run(
            session,
            delete(TubeResultAmendment).where(
                _ids(session, TubeResultAmendment.tube_result_id, tube_result_ids)
            ),
        ),
        "tube_results": _run(
            session, delete(TubeResult).where(_ids(session, TubeResult.id, tube_result_ids))
        ),
        "samplings": _run(
            session, delete(Sampling).where(_ids(session, Sampling.id, sampling_ids))
        ),
    }
    readmodel.drop((s.public_id, s.tube_no) for s in sampled if s.public_id is not None)
    return Step(deleted, done=len(oldest) < limit and len(chosen) == len(oldest))


def samplings(
    session: Session, *, before: datetime, limit: int, readmodel: ResultReadModel
) -> Step:
    """Samplings scanned before ``before`` that never got a result, walked in
    ``ix_samplings_scanned_at`` order from where the last batch stopped
    (:data:`SAMPLINGS_WALK`): those with a result are stepped over, not read again."""
    query = select(Sampling.id, Sampling.scanned_at).where(Sampling.scanned_at < before)
    walked = session.get(RetentionProgress, SAMPLINGS_WALK)
    if walked is not None:
        after = tuple_(literal(as_utc(walked.at)), literal(walked.row_id))
        query = query.where(tuple_(Sampling.scanned_at, Sampling.id) > after)
    rows = session.execute(query.order_by(Sampling.scanned_at, Sampling.id).limit(limit)).all()
    if not rows:
        return Step({}, done=True)
    ids = [r.id for r in rows]
    tested = set(
        session.scalars(
            select(PersonResult.sampling_id).where(_ids(session, PersonResult.sampling_id, ids))
        )
    )
    untested = [i for i in ids if i not in tested]
    deleted = 0
    if untested:
        shown = session.execute(
            select(Resident.public_id, Tube.tube_no)
            .select_from(Sampling)
            .join(Tube, Tube.id == Sampling.tube_id)
            .join(Resident, Resident.id == Sampling.resident_id)
            .where(_ids(session, Sampling.id, untested))
        ).all()
        deleted = _run(session, delete(Sampling).where(_ids(session, Sampling.id, untested)))
        readmodel.drop((r.public_id, r.tube_no) for r in shown)
    last = rows[-1]
    mark = {"at": as_utc(last.scanned_at), "row_id": last.id}
    upsert = insert_for(session, RetentionProgress).values(walk=SAMPLINGS_WALK, **mark)
    session.execute(upsert.on_conflict_do_update(index_elements=["walk"], set_=mark))
    return Step({"samplings": deleted}, done=len(rows) < limit)


def codes_expired(session: Session, *, before: datetime, limit: int) -> Step:
    """Registration codes that expired before ``before`` (``ix_registration_codes_expires_at``).

    Samplings keep the code's id as a string (no foreign key): it names no one once the code
    row is gone, and a scan of the old code is answered ``expired`` from its signed claims.
    """
    return _delete_oldest(
        session,
        RegistrationCode,
        RegistrationCode.expires_at < before,
        RegistrationCode.expires_at,
        limit,
    )


def codes_revoked(session: Session, *, before: datetime, limit: int) -> Step:
    """Registration codes revoked (replaced) before ``before``, though not yet expired long
    enough for :func:`codes_expired` (``ix_registration_codes_revoked_at``)."""
    return _delete_oldest(
        session,
        RegistrationCode,
        RegistrationCode.revoked_at < before,
        RegistrationCode.revoked_at,
        limit,
    )


def outbox(session: Session, *, before: datetime, limit: int) -> Step:
    """Outbox rows queued before ``before`` whose delivery is over (sent, refused, no
    subscription, failed: the partial ``ix_outbox_finished``, whose predicate the query repeats
    word for word so that both databases use it). A row finishes within minutes of being
    queued (the worker gives up after NOTIFY.MAX_ATTEMPTS), so its queueing time stands for
    its end."""
    return _delete_oldest(
        session,
        OutboxMessage,
        text(OUTBOX_FINISHED) & (OutboxMessage.created_at < before),
        OutboxMessage.created_at,
        limit,
    )


def notices(session: Session, *, before: datetime, limit: int) -> Step:
    """Family-link notices made before ``before`` whose push is over (``ix_notices_created_at``).
    ``GET /me`` shows them until then."""
    where = (Notice.created_at < before) & Notice.push_status.not_in(NOTICE_STILL_PUSHING)
    return _delete_oldest(session, Notice, where, Notice.created_at, limit)


def scan_receipts(session: Session, *, before: datetime, limit: int) -> Step:
    """Staff scan receipts made before ``before`` (``ix_scan_receipts_created_at``). A receipt
    only answers a re-sent scan item, which comes within the scan window, so none is needed by
    then."""
    where = ScanReceipt.created_at < before
    return _delete_oldest(session, ScanReceipt, where, ScanReceipt.created_at, limit)


def lab_requests(session: Session, *, before: datetime, limit: int) -> Step:
    """Labs' idempotency records made before ``before`` (``ix_lab_requests_created_at``),
    whatever their state: a request still ``in_flight`` after a month was cut off long ago."""
    where = LabRequest.created_at < before
    return _delete_oldest(session, LabRequest, where, LabRequest.created_at, limit)


def audit(session: Session, *, before: datetime, limit: int, now: datetime) -> Step:
    """Audit events older than ``before``, whole chain prefixes (``miniapp_api/audit/purge.py``)."""
    removed = purge_audit_batch(session, before=before, limit=limit, now=now)
    return Step({"audit_events": removed}, done=removed == 0)


def _delete_oldest(
    session: Session, model: Any, where: ColumnElement[bool], order: Any, limit: int
) -> Step:
    """``DELETE FROM t WHERE id IN (SELECT id FROM t WHERE <where> ORDER BY <order> LIMIT n)``:
    one statement, the inner query an index range scan."""
    chosen = select(model.id).where(where).order_by(order).limit(limit)
    count = _run(session, delete(model).where(model.id.in_(chosen)))
    return Step({model.__tablename__: count}, done=count < limit)
