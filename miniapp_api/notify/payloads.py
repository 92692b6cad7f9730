"""The payload of outbox rows, built when they are sent from the rows they name.

An outbox row holds only (person result, account, version). The message announces the result
as it was at that version: the person result holds the current one; an older version (a row
still queued when the lab amended the tube) is read back from the tube's amendment history,
where amendment ``v`` keeps the result that version ``v`` announced. So a payload is what
ingest used to store in the row::

    {"kind": "result", "platform", "recipient" (the account's platform subject),
     "resident_id" (public), "resident_name_masked", "state", "tested_at" (ISO 8601, UTC),
     "tube_no", "round", "site", "version"}

Outer joins throughout: a row whose person result or account is gone (the outbox has no
foreign keys) still gets a payload, without ``state`` or ``recipient``, and the worker fails it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.residents.models import Account, Resident
from miniapp_api.results.models import (
    OutboxMessage,
    PersonResult,
    TubeResult,
    TubeResultAmendment,
)
from miniapp_api.results.states import person_state_of
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube


def payloads(session: Session, outbox_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The payload of each of ``outbox_ids``; ``None`` values are left out."""
    if not outbox_ids:
        return {}
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.version,
            Account.platform,
            Account.subject,
            Resident.public_id,
            Resident.name_masked,
            PersonResult.state,
            PersonResult.tested_at,
            Tube.tube_no,
            Tube.capacity,
            ScreeningRound.name,
            Site.name,
            TubeResult.id,
        )
        .outerjoin(Account, Account.id == OutboxMessage.account_id)
        .outerjoin(PersonResult, PersonResult.id == OutboxMessage.person_result_id)
        .outerjoin(Sampling, Sampling.id == PersonResult.sampling_id)
        .outerjoin(Resident, Resident.id == Sampling.resident_id)
        .outerjoin(Tube, Tube.id == Sampling.tube_id)
        .outerjoin(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .outerjoin(Site, Site.id == Sampling.site_id)
        .outerjoin(TubeResult, TubeResult.tube_id == Sampling.tube_id)
        .where(OutboxMessage.id.in_(outbox_ids))
    ).all()
    older = _superseded(session, (row[-1] for row in rows))
    found: dict[int, dict[str, Any]] = {}
    for (
        outbox_id,
        version,
        platform,
        subject,
        public_id,
        name_masked,
        state,
        tested_at,
        tube_no,
        capacity,
        round_name,
        site_name,
        tube_result_id,
    ) in rows:
        history = older.get(tube_result_id, [])
        if version < len(history) and capacity is not None:
            previous_result, tested_at = history[version]
            state = person_state_of(previous_result, capacity)
        payload: dict[str, Any] = {
            "kind": "result",
            "platform": platform,
            "recipient": subject,
            "resident_id": public_id,
            "resident_name_masked": name_masked,
            "state": state,
            "tested_at": _iso(tested_at),
            "tube_no": tube_no,
            "round": round_name,
            "site": site_name,
            "version": version,
        }
        found[outbox_id] = {k: v for k, v in payload.items() if v is not None}
    return found


def _superseded(
    session: Session, tube_result_ids: Iterable[int | None]
) -> dict[int, list[tuple[str, datetime]]]:
    """Per tube result, in order, the (result, tested_at) each amendment replaced: entry ``v``
    is what version ``v`` announced."""
    ids = sorted({i for i in tube_result_ids if i is not None})
    history: dict[int, list[tuple[str, datetime]]] = {}
    if not ids:
        return history
    for tube_result_id, previous, tested_at in session.execute(
        select(
            TubeResultAmendment.tube_result_id,
            TubeResultAmendment.previous_result,
            TubeResultAmendment.previous_tested_at,
        )
        .where(TubeResultAmendment.tube_result_id.in_(ids))
        .order_by(TubeResultAmendment.tube_result_id, TubeResultAmendment.id)
    ):
        history.setdefault(tube_result_id, []).append((previous, tested_at))
    return history


def _iso(moment: datetime | None) -> str | None:
    """``2022-03-16T02:30:00+00:00``, as ingest used to write it."""
    return None if moment is None else as_utc(moment).replace(microsecond=0).isoformat()
