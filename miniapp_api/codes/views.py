"""Routes of the codes feature: a resident's code (JSON, PNG, SVG), re-issue, the JWKS.

The three code screens are kept, ready to send, in the caller's account view
(``miniapp_api/accountview.py``) until the code expires; the admission gate has usually read the
screen already, so showing a code costs no other round trip, no database and no rendering. A
re-issue drops the kept screens of every account holding the resident. While a required consent
is withdrawn and not given again, building a screen (and re-issuing) is refused with 409
``consent_required`` (``residents/consents.py``); the withdrawal dropped the kept ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from flask import Blueprint, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue

from miniapp_api.accountview import (
    CODE_SCREEN,
    NO_STORE,
    PNG_SCREEN,
    SVG_SCREEN,
    KeptScreen,
    ViewSnapshot,
)
from miniapp_api.api import TrafficClass, kept_answer, operation
from miniapp_api.codes import image_links, images, qr, service
from miniapp_api.codes.jwks import CACHE_CONTROL, jwks_json
from miniapp_api.codes.schemas import CodeOut, JwksOut
from miniapp_api.codes.tokens import public_code_id
from miniapp_api.residents import consents
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

bp = Blueprint("codes", __name__, url_prefix="/api/v1")

CODE_ERRORS = (401, 404, 409)  # 409 consent_required: a required consent was withdrawn
# The three forms of a code screen (CODE_, PNG_, SVG_SCREEN) are kept in the account view
# (miniapp_api/accountview.py). A code is personal (masked name) and voided by re-issue: no HTTP
# cache may keep it (NO_STORE); residents keep it offline by saving the image or screenshotting
# it, which needs none.


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
    kept=CODE_SCREEN,
)
def get_code(resident_id: str) -> ResponseReturnValue:
    return _kept(resident_id, CODE_SCREEN)


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
    return _code_body(_issue(resident_id, again=True)), 201, {"Cache-Control": NO_STORE}


@bp.get("/residents/<resident_id>/code.png")
@operation(
    "The live code as a PNG QR symbol",
    traffic=TrafficClass.CRITICAL,
    errors=CODE_ERRORS,
    kept=PNG_SCREEN,
)
def get_code_png(resident_id: str) -> ResponseReturnValue:
    return _kept(resident_id, PNG_SCREEN)


@bp.get("/residents/<resident_id>/code.svg")
@operation(
    "The live code as an SVG QR symbol",
    traffic=TrafficClass.CRITICAL,
    errors=CODE_ERRORS,
    kept=SVG_SCREEN,
)
def get_code_svg(resident_id: str) -> ResponseReturnValue:
    return _kept(resident_id, SVG_SCREEN)


def _kept(resident_id: str, screen: KeptScreen) -> Response:
    """The screen from the caller's account view while it is valid, else from the database,
    then kept until the code expires; made with today's signing key (after a rotation, kept
    screens are signed again at once)."""
    wire = wiring()
    caller = require_session(wire.sessions)

    def build(_: ViewSnapshot) -> tuple[bytes, float]:
        issued = _issue(resident_id)
        if screen is CODE_SCREEN:
            body = _code_body(issued).get_data()
        elif screen is PNG_SCREEN:
            body = images.png(wire.redis, issued.token)
        else:
            body = qr.svg(issued.token)
        return body, issued.claims.expires_at.timestamp()

    kid = wire.settings.codes.signing_key.kid
    return kept_answer(wire.views, caller.account_id, screen, kid, build)


def _issue(resident_id: str, *, again: bool = False) -> service.IssuedCode:
    """The live code of the caller's ``resident_id`` (issued if there is none), or with
    ``again`` a new one that voids it (re-issue)."""
    wire = wiring()
    caller = require_session(wire.sessions)
    codes, now = wire.settings.codes, datetime.now(UTC)
    with wire.db.session() as session:
        # Only here, where a screen is built: a kept one was built after this check, and
        # withdrawing a consent drops the account's kept screens (residents/consents.py).
        consents.refuse_if_withdrawn(session, caller.account_id)
        if again:
            return service.reissue(
                session,
                caller.account_id,
                resident_id=resident_id,
                codes=codes,
                now=now,
                client=wire.redis,
            )
        return service.current_code(
            session, caller.account_id, resident_id=resident_id, codes=codes, now=now
        )


def _code_body(issued: service.IssuedCode) -> Response:
    base = wiring().settings.public_base_url
    claims = issued.claims
    out = CodeOut(
        token=issued.token,
        code_id=public_code_id(claims.code_id),
        expires_at=claims.expires_at,
        png_url=base + url_for("codes.get_code_png", resident_id=issued.resident_id),
        svg_url=base + url_for("codes.get_code_svg", resident_id=issued.resident_id),
        image_url=base + url_for("codes.get_code_image", signed=_image_link(issued)),
        name_masked=claims.name_masked,
    )
    return cast(Response, current_app.json.response(out.model_dump(mode="json")))


# --- the signed image link, for <image src> (no headers): codes/image_links.py ---------------


@bp.get("/code-images/<signed>.png")
@operation(
    "The code as a PNG QR symbol by the short-lived signed link of its image_url (no session)",
    traffic=TrafficClass.CRITICAL,
    auth=False,
    errors=(404, 410),  # 410 code_image_link_expired: lapsed, or the code was re-issued
)
def get_code_image(signed: str) -> ResponseReturnValue:
    wire = wiring()
    codes, now = wire.settings.codes, datetime.now(UTC)
    linked = image_links.verify(codes, signed, now=now.timestamp())
    with wire.db.session() as session:
        token = image_links.live_token(session, linked, codes=codes, now=now)
    # The headers of the Bearer route's PNG (no-store, nosniff, the file name); sent as it is.
    body = images.png(wire.redis, token)
    return Response(
        body, mimetype="image/png", headers=PNG_SCREEN.headers(), direct_passthrough=True
    )


def _image_link(issued: service.IssuedCode) -> str:
    return image_links.sign(
        wiring().settings.codes,
        resident_id=issued.resident_id,
        code_id=issued.claims.code_id,
        now=datetime.now(UTC).timestamp(),
    )
