"""Routes of the results feature: the resident's lookup (critical) and history (sheddable).

The lookup's body is kept in the caller's account view (``miniapp_api/accountview.py``), which
the admission gate has usually read already: then it is sent as it is, with no other round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from miniapp_api.accountview import RESULTS_SCREEN, ViewSnapshot
from miniapp_api.api import TrafficClass, kept_answer, operation
from miniapp_api.results import service
from miniapp_api.results.schemas import HistoryOut, ResidentHistoryOut, ResultsOut
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

bp = Blueprint("results", __name__, url_prefix="/api/v1")


@bp.get("/results")
@operation(
    "Latest result and history for self and each dependent",
    traffic=TrafficClass.CRITICAL,
    response=ResultsOut,
    errors=(401, 409, 503),
    kept=RESULTS_SCREEN,
)
def get_results() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)

    def build(seen: ViewSnapshot) -> tuple[bytes, float]:
        now = datetime.now(UTC)
        out = _account_results(caller.account_id, seen, now)
        body = cast(Response, current_app.json.response(out.model_dump(mode="json"))).get_data()
        return body, service.valid_until(out, wire.settings.results, now).timestamp()

    kid = wire.settings.codes.signing_key.kid
    return kept_answer(wire.views, caller.account_id, RESULTS_SCREEN, kid, build)


@bp.get("/results/history")
@operation(
    "Every sampling of self and each dependent (the first thing shed under overload)",
    traffic=TrafficClass.SHEDDABLE,
    response=HistoryOut,
    errors=(401, 409, 503),
)
def get_history() -> ResponseReturnValue:
    caller = require_session(wiring().sessions)
    residents = [
        ResidentHistoryOut(
            id=person.id,
            relation=person.relation,
            name_masked=person.name_masked,
            samplings=([person.latest] if person.latest else []) + person.history,
        )
        for person in _account_results(caller.account_id).residents
    ]
    return HistoryOut(residents=residents).model_dump(mode="json")


def _account_results(
    account_id: str, seen: ViewSnapshot | None = None, now: datetime | None = None
) -> ResultsOut:
    wire = wiring()
    with wire.db.session() as session:
        return service.account_results(
            session,
            account_id,
            client=wire.redis,
            readmodel=wire.readmodel,
            settings=wire.settings.results,
            now=now or datetime.now(UTC),
            seen=seen,
        )
