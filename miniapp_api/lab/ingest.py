"""Ingest of a batch of tube results: per-item checks, then set-based writes and fan-out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, String, any_, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from miniapp_api.lab.models import Lab, TubeResult
from miniapp_api.lab.schemas import BatchOut, ItemOut, TubeResultIn
from miniapp_api.results.fanout import FannedOut, fan_out, insert_for
from miniapp_api.sampling.models import Tube
from miniapp_api.settings import LabSettings


def ingest(
    session: Session,
    lab: Lab,
    items: Sequence[TubeResultIn],
    settings: LabSettings,
    now: datetime,
) -> tuple[dict[str, Any], FannedOut]:
    """Classify each item, store the acceptable ones and fan them out, in the caller's
    transaction: a fixed number of statements per batch, whatever its size. Returns the
    answer (``BatchOut``) and the read model entries to publish after the commit."""
    tubes = {
        row.tube_no: row
        for row in session.execute(
            select(Tube.id, Tube.tube_no, Tube.lab_id, Tube.closed_at, TubeResult.result)
            .outerjoin(TubeResult, TubeResult.tube_id == Tube.id)
            .where(_one_of(session, Tube.tube_no, sorted({item.tube_no for item in items})))
        )
    }
    latest_tested = now + timedelta(seconds=settings.timestamp_tolerance_seconds)
    outcomes: list[ItemOut] = []
    new_rows: dict[int, dict[str, Any]] = {}
    seen: set[str] = set()
    for item in items:
        tube = tubes.get(item.tube_no)
        if item.tube_no in seen:
            outcomes.append(ItemOut(tube_no=item.tube_no, status="duplicate_in_batch"))
        elif tube is None or tube.lab_id != lab.id:
            outcomes.append(ItemOut(tube_no=item.tube_no, status="unknown_tube"))
        elif tube.closed_at is None:
            outcomes.append(ItemOut(tube_no=item.tube_no, status="tube_open"))
        elif tube.result is not None:
            outcomes.append(
                ItemOut(tube_no=item.tube_no, status="already_final", current_result=tube.result)
            )
        elif item.tested_at > latest_tested:
            outcomes.append(ItemOut(tube_no=item.tube_no, status="tested_in_future"))
        else:
            new_rows[tube.id] = {
                "tube_id": tube.id,
                "lab_id": lab.id,
                "result": item.result,
                "tested_at": item.tested_at.astimezone(UTC),
                "received_at": now,
            }
            outcomes.append(ItemOut(tube_no=item.tube_no, status="accepted"))
        seen.add(item.tube_no)

    stored = _insert_tube_results(session, [new_rows[k] for k in sorted(new_rows)])
    fanned = fan_out(session, sorted(stored), version=0, now=now)
    ids = {no: row.id for no, row in tubes.items()}
    for i, out in enumerate(outcomes):
        if out.status != "accepted":
            continue
        if ids[out.tube_no] in stored:
            outcomes[i] = out.model_copy(update={"people": fanned.people.get(ids[out.tube_no], 0)})
        else:  # a concurrent upload stored this tube first
            outcomes[i] = ItemOut(tube_no=out.tube_no, status="already_final")
    accepted = sum(out.status == "accepted" for out in outcomes)
    body = BatchOut(accepted=accepted, rejected=len(outcomes) - accepted, items=outcomes)
    return body.model_dump(mode="json", exclude_none=True), fanned


def _one_of(session: Session, column: Any, values: list[str]) -> Any:
    """``column IN (values)``: on PostgreSQL ``= ANY(one array)``, not a parameter a value."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=postgresql.ARRAY(String)))
    return column.in_(values)


def _insert_tube_results(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Insert in tube id order (a stable lock order between concurrent batches); the tubes
    another transaction stored first are skipped. Returns the tube ids stored here."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        return set(session.scalars(_insert_unnested(rows)))
    stmt = (
        insert_for(session, TubeResult.__table__)
        .on_conflict_do_nothing(index_elements=["tube_id"])
        .returning(TubeResult.__table__.c.tube_id)
    )
    return set(session.scalars(stmt, rows))


def _insert_unnested(rows: list[dict[str, Any]]) -> Any:
    """PostgreSQL: the rows as three arrays (``unnest``) instead of 5 parameters a row (5,000
    a batch: handling them was about half of this statement's time). ``lab_id`` and
    ``received_at`` are the batch's, the same in every row."""

    def array(name: str, item: Any) -> Any:
        return bindparam(name, [row[name] for row in rows], type_=postgresql.ARRAY(item))

    given = (
        func.unnest(
            array("tube_id", Integer),
            array("result", String),
            array("tested_at", DateTime(timezone=True)),
        )
        .table_valued("tube_id", "result", "tested_at")
        .render_derived()
    )
    first = rows[0]
    source = select(
        given.c.tube_id,
        literal(first["lab_id"], Integer),
        given.c.result,
        given.c.tested_at,
        literal(first["received_at"], DateTime(timezone=True)),
    ).order_by(given.c.tube_id)
    columns = ["tube_id", "lab_id", "result", "tested_at", "received_at"]
    return (
        postgresql.insert(TubeResult)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["tube_id"])
        .returning(TubeResult.tube_id)
    )
