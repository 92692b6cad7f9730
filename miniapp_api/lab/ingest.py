"""Ingest of a batch of tube results: per-item checks, then one call into the result pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.dialects import one_of
from miniapp_api.lab.schemas import BatchOut, ItemOut, TubeResultIn
from miniapp_api.results.models import TubeResult
from miniapp_api.results.pipeline import FannedOut, NewTubeResult, store_tube_results
from miniapp_api.sampling.models import Lab, Sampling, Tube
from miniapp_api.settings import LabSettings

# When the tube's last sample went in (NULL for a tube nobody was sampled into), read in the
# statement that reads the tube. The latest scan, not the earliest: the lab tests the pooled
# tube once, after it was closed, so a result tested before any one swab went in cannot be
# that person's, and the earliest scan would let it through for everyone sampled after it.
# (A genuine test follows the last scan by hours, far beyond any skew of the devices' clocks.)
SAMPLED_UNTIL = (
    select(func.max(Sampling.scanned_at))
    .where(Sampling.tube_id == Tube.id)
    .correlate(Tube)
    .scalar_subquery()
    .label("sampled_until")
)


def ingest(
    session: Session,
    lab: Lab,
    *,
    items: Sequence[TubeResultIn],
    settings: LabSettings,
    now: datetime,
) -> tuple[dict[str, Any], FannedOut]:
    """Classify each item, store the acceptable ones and fan them out, in the caller's
    transaction: a fixed number of statements per batch, whatever its size. Returns the
    answer (``BatchOut``) and what the pipeline produced, to publish after the commit."""
    wanted = sorted({item.tube_no for item in items})
    tubes = {
        row.tube_no: row
        for row in session.execute(
            select(
                Tube.id, Tube.tube_no, Tube.lab_id, Tube.closed_at, TubeResult.result, SAMPLED_UNTIL
            )
            .outerjoin(TubeResult, TubeResult.tube_id == Tube.id)
            .where(one_of(session, Tube.tube_no, wanted, String()))
        )
    }
    latest_tested = now + timedelta(seconds=settings.timestamp_tolerance_seconds)
    outcomes: list[ItemOut] = []
    new_results: list[NewTubeResult] = []
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
        elif tube.sampled_until is not None and item.tested_at < as_utc(tube.sampled_until):
            outcomes.append(ItemOut(tube_no=item.tube_no, status="tested_before_sampling"))
        else:
            new_results.append(NewTubeResult(tube.id, item.result, item.tested_at))
            outcomes.append(ItemOut(tube_no=item.tube_no, status="accepted"))
        seen.add(item.tube_no)

    fanned = store_tube_results(session, new_results, lab_id=lab.id, now=now)
    ids = {no: row.id for no, row in tubes.items()}
    for i, out in enumerate(outcomes):
        if out.status != "accepted":
            continue
        if ids[out.tube_no] in fanned.tubes:
            outcomes[i] = out.model_copy(update={"people": fanned.people.get(ids[out.tube_no], 0)})
        else:  # a concurrent upload stored this tube first
            outcomes[i] = ItemOut(tube_no=out.tube_no, status="already_final")
    accepted = sum(out.status == "accepted" for out in outcomes)
    body = BatchOut(accepted=accepted, rejected=len(outcomes) - accepted, items=outcomes)
    return body.model_dump(mode="json", exclude_none=True), fanned
