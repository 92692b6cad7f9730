"""Routes of the sampling feature: staff login, scans, closing tubes.

All three are critical traffic: on the worst morning the lines are made of people waiting for
exactly these calls.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.db import utcnow
from miniapp_api.errors import ApiError
from miniapp_api.messages import CONTENT_LANGUAGE, language_of
from miniapp_api.sampling import service, staff, tubes
from miniapp_api.sampling.guard import require_staff, staff_sessions
from miniapp_api.sampling.schemas import (
    MAX_SCANS_BODY_BYTES,
    MAX_SCANS_PER_BATCH,
    ScansIn,
    ScansOut,
    StaffLoginIn,
    StaffLoginOut,
    TubeOut,
)
from miniapp_api.security.passwords import FailedLogins
from miniapp_api.sessions import bearer_token
from miniapp_api.wiring import wiring

bp = Blueprint("sampling", __name__, url_prefix="/api/v1")


class BatchTooLarge(ApiError):
    status, code = 413, "batch_too_large"


@bp.post("/staff/login")
@operation(
    "Staff login: a staff session bound to the member's site",
    traffic=TrafficClass.CRITICAL,
    body=StaffLoginIn,
    response=StaffLoginOut,
    auth=False,
    errors=(400, 401, 415, 429, 503),
)
def staff_login() -> ResponseReturnValue:
    wire = wiring()
    credentials = parse_body(StaffLoginIn)
    with wire.db.session() as session:
        out = staff.login(
            session,
            credentials.username,
            password=credentials.password,
            sessions=staff_sessions(wire.redis),
            failures=FailedLogins(wire.redis, "staff"),
            address=request.remote_addr or "-",
        )
    return out.model_dump(mode="json")


@bp.post("/staff/logout")
@operation("End this staff session", traffic=TrafficClass.NORMAL, status=204, errors=(401,))
def staff_logout() -> ResponseReturnValue:
    sessions = staff_sessions(wiring().redis)
    require_staff(sessions)
    sessions.revoke(bearer_token())
    return Response(status=204)


@bp.post("/sampling/scans")
@operation(
    "Bind scanned codes to tubes; one answer per item, safe to re-send",
    traffic=TrafficClass.CRITICAL,
    body=ScansIn,
    response=ScansOut,
    errors=(400, 401, 409, 413, 415),
)
def post_scans() -> ResponseReturnValue:
    wire = wiring()
    staff_id = require_staff(staff_sessions(wire.redis))
    batch = _parse_scans()
    language = language_of(request.environ)  # of the messages: staff apps send zh or nothing
    with wire.db.session() as session:
        out = service.record_scans(
            session,
            staff_id,
            items=batch.items,
            keys=wire.settings.codes.keys,
            readmodel=wire.readmodel,
            settings=wire.settings.sampling,
            now=utcnow(),
            request_id=g.get("request_id", ""),
            language=language,
        )
    headers = {"Content-Language": CONTENT_LANGUAGE[language], "Vary": "Accept-Language"}
    return out.model_dump(mode="json"), 200, headers


@bp.post("/sampling/tubes/<tube_no>/close")
@operation(
    "Close a tube of your site; it takes no more scans",
    traffic=TrafficClass.CRITICAL,
    response=TubeOut,
    errors=(401, 404),
)
def close_tube(tube_no: str) -> ResponseReturnValue:
    wire = wiring()
    staff_id = require_staff(staff_sessions(wire.redis))
    with wire.db.session() as session:
        out = tubes.close_tube(session, staff_id, tube_no=tube_no, now=utcnow())
    return out.model_dump(mode="json")


def _parse_scans() -> ScansIn:
    """Refuse an oversized batch before the work: bytes unread, then the count of items."""
    too_large = BatchTooLarge(
        f"Send at most {MAX_SCANS_PER_BATCH} scans per request; split the batch.",
        detail={"max_items": MAX_SCANS_PER_BATCH, "max_bytes": MAX_SCANS_BODY_BYTES},
    )
    request.max_content_length = MAX_SCANS_BODY_BYTES
    try:
        batch = parse_body(ScansIn)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(batch.items) > MAX_SCANS_PER_BATCH:
        raise too_large
    return batch
