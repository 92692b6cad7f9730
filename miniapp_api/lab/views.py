"""Routes of the lab feature: signed, idempotent result uploads and amendments."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.lab import idempotency, service, signing
from miniapp_api.lab.schemas import AmendIn, AmendOut, BatchOut, ResultBatchIn
from miniapp_api.sampling.models import Lab
from miniapp_api.wiring import Wiring, wiring

bp = Blueprint("lab", __name__, url_prefix="/api/v1/lab")

# Labs sign with HMAC (see miniapp_api/lab/signing.py), not with a Bearer session.
_ERRORS = (400, 401, 409, 415, 503)
# Body limits, checked before reading: an item is ~100 bytes of JSON.
_ITEM_BYTES = 512
_AMEND_BYTES = 16 * 1024


@bp.post("/results")
@operation(
    "Upload a signed batch of tube results (HMAC headers and Idempotency-Key required)",
    traffic=TrafficClass.NORMAL,
    body=ResultBatchIn,
    response=BatchOut,
    auth=False,
    errors=(*_ERRORS, 413),
)
def post_results() -> ResponseReturnValue:
    wire = wiring()
    now = datetime.now(UTC)
    with wire.db.session() as session:
        lab = _signed_lab(session, wire, now, _ITEM_BYTES * wire.settings.lab.max_batch)
        batch = parse_body(ResultBatchIn)
        answer = service.upload_results(
            session,
            lab,
            batch=batch,
            request=_idempotent_request(required=True),
            readmodel=wire.readmodel,
            settings=wire.settings.lab,
            now=now,
        )
    return _respond(answer)


@bp.post("/results/<tube_no>/amend")
@operation(
    "Correct a final tube result with a reason; keeps the history and notifies again",
    traffic=TrafficClass.NORMAL,
    body=AmendIn,
    response=AmendOut,
    auth=False,
    errors=(*_ERRORS, 404, 413),
)
def post_amend(tube_no: str) -> ResponseReturnValue:
    wire = wiring()
    now = datetime.now(UTC)
    with wire.db.session() as session:
        lab = _signed_lab(session, wire, now, _AMEND_BYTES)
        change = parse_body(AmendIn)
        answer = service.amend_result(
            session,
            lab,
            tube_no=tube_no,
            change=change,
            request=_idempotent_request(required=False),
            readmodel=wire.readmodel,
            settings=wire.settings.lab,
            now=now,
        )
    return _respond(answer)


def _signed_lab(session: Session, wire: Wiring, now: datetime, max_bytes: int) -> Lab:
    """The lab that signed this request. A body over ``max_bytes`` is refused unread."""
    request.max_content_length = max_bytes
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise service.BatchTooLarge(
            "The body is too large; split the batch.", detail={"max_bytes": max_bytes}
        ) from None
    signed = signing.SignedRequest(
        method=request.method,
        path=request.path,
        body=body,
        lab_id=request.headers.get("X-Lab-Id", ""),
        timestamp=request.headers.get("X-Timestamp", ""),
        nonce=request.headers.get("X-Nonce", ""),
        signature=request.headers.get("X-Signature", ""),
    )
    return signing.authenticate(
        session, signed, client=wire.redis, crypto=wire.crypto, settings=wire.settings.lab, now=now
    )


def _idempotent_request(*, required: bool) -> service.IdempotentRequest:
    key = idempotency.parse_key(request.headers.get(idempotency.HEADER), required=required)
    body = request.get_data(cache=True)
    return service.IdempotentRequest(
        key, idempotency.fingerprint(request.method, request.path, body)
    )


def _respond(answer: service.Answer) -> ResponseReturnValue:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return answer.body, answer.status, headers
