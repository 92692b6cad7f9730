"""Amending a final tube result: history kept, people's results re-fanned out and re-notified."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.errors import Conflict, NotFound, ValidationFailed
from miniapp_api.lab.ingest import SAMPLED_UNTIL
from miniapp_api.lab.schemas import AmendIn, AmendmentOut, AmendOut
from miniapp_api.results.models import TubeResult, TubeResultAmendment
from miniapp_api.results.pipeline import NOTHING, FannedOut, fan_out
from miniapp_api.sampling.models import Lab, Tube
from miniapp_api.settings import LabSettings


def amend(
    session: Session,
    lab: Lab,
    *,
    tube_no: str,
    change: AmendIn,
    settings: LabSettings,
    now: datetime,
) -> tuple[dict[str, Any], FannedOut]:
    """Replace the tube's result in the caller's transaction; the same result again changes
    nothing (a retried amendment). Another lab's tube is the same 404 as an unknown one."""
    found = session.execute(
        select(Tube.id, SAMPLED_UNTIL).where(Tube.tube_no == tube_no, Tube.lab_id == lab.id)
    ).one_or_none()
    if found is None:  # unknown, or another lab's: the same answer
        raise NotFound("No such tube for this lab.", code="tube_not_found")
    tube_id, sampled_until = found
    current = session.scalars(
        select(TubeResult).where(TubeResult.tube_id == tube_id).with_for_update()
    ).one_or_none()
    if current is None:
        raise Conflict(
            "This tube has no result yet: upload it with POST /api/v1/lab/results.",
            code="no_result_to_amend",
        )
    if change.tested_at > now + timedelta(seconds=settings.timestamp_tolerance_seconds):
        raise ValidationFailed("tested_at is in the future.", code="tested_in_future")
    if sampled_until is not None and change.tested_at < as_utc(sampled_until):
        # The upload's rule (ingest.SAMPLED_UNTIL): not before the tube's last sample.
        raise ValidationFailed(
            "tested_at is before the tube's last sample was taken.", code="tested_before_sampling"
        )
    tested_at = change.tested_at.astimezone(UTC)
    fanned = NOTHING
    unchanged = current.result == change.result and as_utc(current.tested_at) == tested_at
    if not unchanged:
        session.add(
            TubeResultAmendment(
                tube_result_id=current.id,
                previous_result=current.result,
                new_result=change.result,
                previous_tested_at=current.tested_at,
                reason=change.reason,
                amended_at=now,
            )
        )
        current.result, current.tested_at = change.result, tested_at
        session.flush()
    history = list(
        session.scalars(
            select(TubeResultAmendment)
            .where(TubeResultAmendment.tube_result_id == current.id)
            .order_by(TubeResultAmendment.id)
        )
    )
    if not unchanged:
        fanned = fan_out(session, [tube_id], version=len(history), now=now)
    body = AmendOut(
        tube_no=tube_no,
        status="unchanged" if unchanged else "amended",
        result=change.result,
        tested_at=tested_at,
        version=len(history),
        people=None if unchanged else fanned.people.get(tube_id, 0),
        history=_history_out(history),
    )
    return body.model_dump(mode="json", exclude_none=True), fanned


def _history_out(history: Sequence[TubeResultAmendment]) -> list[AmendmentOut]:
    return [
        AmendmentOut(
            previous_result=a.previous_result,  # type: ignore[arg-type]  # checked on write
            new_result=a.new_result,  # type: ignore[arg-type]
            previous_tested_at=as_utc(a.previous_tested_at),
            reason=a.reason,
            amended_at=as_utc(a.amended_at),
        )
        for a in history
    ]
