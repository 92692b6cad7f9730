"""Routes of the results feature: the resident's lookup."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation
from miniapp_api.auth.guard import require_session
from miniapp_api.results import service
from miniapp_api.results.schemas import ResultsOut
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
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        out = service.lookup(
            session,
            wire.redis,
            wire.settings.results,
            caller.account_id,
            datetime.now(UTC),
        )
    return out.model_dump(mode="json")
