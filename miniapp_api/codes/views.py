"""Routes of the codes feature: a resident's code (JSON, PNG, SVG), re-issue, the JWKS."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from flask import Blueprint, Response, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from miniapp_api.api import TrafficClass, operation
from miniapp_api.codes import qr, service
from miniapp_api.codes.jwks import CACHE_CONTROL, jwks_json
from miniapp_api.codes.schemas import CodeOut, JwksOut
from miniapp_api.sessions import require_session
from miniapp_api.settings import CodeSettings
from miniapp_api.wiring import wiring

bp = Blueprint("codes", __name__, url_prefix="/api/v1")

# A code is personal (masked name) and voided by re-issue: no cache may keep it,
# shared caches least of all. Residents keep it offline by saving the image or screenshotting
# it, which needs no HTTP cache.
NO_STORE = "private, no-store"
CODE_ERRORS = (401, 404)


class UseCase(Protocol):
    """``service.current_code`` or ``service.reissue``."""

    def __call__(
        self,
        session: Session,
        account_id: str,
        *,
        resident_id: str,
        codes: CodeSettings,
        now: datetime,
    ) -> service.IssuedCode: ...


@bp.get("/codes/keys")
@operation(
    "The public keys that verify registration codes offline (JWKS)",
    # Critical: sampling sites can verify nothing without it; it costs no I/O.
    traffic=TrafficClass.CRITICAL,
    response=JwksOut,
    auth=False,
)
def get_keys() -> ResponseReturnValue:
    response = Response(jwks_json(wiring().settings.codes.keys), mimetype="application/json")
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/residents/<resident_id>/code")
@operation(
    "The live registration code of self or a dependent, issued on first request",
    traffic=TrafficClass.CRITICAL,
    response=CodeOut,
    errors=CODE_ERRORS,
)
def get_code(resident_id: str) -> ResponseReturnValue:
    return _code(service.current_code, resident_id), 200, {"Cache-Control": NO_STORE}


@bp.post("/residents/<resident_id>/code")
@operation(
    "Re-issue the code of self or a dependent; the previous code is void",
    traffic=TrafficClass.NORMAL,
    abusable=True,
    response=CodeOut,
    status=201,
    errors=CODE_ERRORS,
)
def post_code(resident_id: str) -> ResponseReturnValue:
    return _code(service.reissue, resident_id), 201, {"Cache-Control": NO_STORE}


@bp.get("/residents/<resident_id>/code.png")
@operation("The live code as a PNG QR symbol", traffic=TrafficClass.CRITICAL, errors=CODE_ERRORS)
def get_code_png(resident_id: str) -> ResponseReturnValue:
    return _image(resident_id, qr.png, "image/png", "code.png")


@bp.get("/residents/<resident_id>/code.svg")
@operation("The live code as an SVG QR symbol", traffic=TrafficClass.CRITICAL, errors=CODE_ERRORS)
def get_code_svg(resident_id: str) -> ResponseReturnValue:
    return _image(resident_id, qr.svg, "image/svg+xml", "code.svg")


def _issue(use_case: UseCase, resident_id: str) -> service.IssuedCode:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        return use_case(
            session,
            caller.account_id,
            resident_id=resident_id,
            codes=wire.settings.codes,
            now=datetime.now(UTC),
        )


def _code(use_case: UseCase, resident_id: str) -> dict[str, object]:
    issued = _issue(use_case, resident_id)
    base = wiring().settings.public_base_url
    claims = issued.claims
    return CodeOut(
        token=issued.token,
        code_id=claims.code_id,
        expires_at=claims.expires_at,
        png_url=base + url_for("codes.get_code_png", resident_id=issued.resident_id),
        svg_url=base + url_for("codes.get_code_svg", resident_id=issued.resident_id),
        name_masked=claims.name_masked,
    ).model_dump(mode="json")


def _image(resident_id: str, render: Callable[[str], bytes], mimetype: str, name: str) -> Response:
    body = render(_issue(service.current_code, resident_id).token)
    # send_file: a binary body in passthrough mode, named for a "save image" in a browser.
    response = send_file(io.BytesIO(body), mimetype=mimetype, download_name=name, etag=False)
    response.headers["Cache-Control"] = NO_STORE
    return response
