"""Routes of the results feature: the resident's lookup (critical) and history (sheddable)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation
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
    errors=(401, 503),
)
def get_results() -> ResponseReturnValue:
    return _account_results().model_dump(mode="json")


@bp.get("/results/history")
@operation(
    "Every sampling of self and each dependent (the first thing shed under overload)",
    traffic=TrafficClass.SHEDDABLE,
    response=HistoryOut,
    errors=(401, 503),
)
def get_history() -> ResponseReturnValue:
    residents = [
        ResidentHistoryOut(
            id=person.id,
            relation=person.relation,
            name_masked=person.name_masked,
            samplings=([person.latest] if person.latest else []) + person.history,
        )
        for person in _account_results().residents
    ]
    return HistoryOut(residents=residents).model_dump(mode="json")


def _account_results() -> ResultsOut:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        return service.account_results(
            session,
            caller.account_id,
            client=wire.redis,
            readmodel=wire.readmodel,
            settings=wire.settings.results,
            now=datetime.now(UTC),
        )
