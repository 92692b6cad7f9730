"""Routes of the H5 lookup: the page (``GET /lookup``), the QR decoder it loads
(``GET /lookup/jsQR.js``) and its API (``POST /api/v1/lookup``)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation, operation_of, parse_body
from miniapp_api.lookup import service
from miniapp_api.lookup.page import page_text_json
from miniapp_api.lookup.schemas import LookupIn, LookupOut
from miniapp_api.messages import CONTENT_LANGUAGE, language_of
from miniapp_api.openapi import answerable_codes
from miniapp_api.wiring import wiring

bp = Blueprint("lookup", __name__)

# The page is the same for everyone and holds nothing personal: shared caches may keep it
# for a while, which takes load off the busiest morning.
PAGE_CACHE_CONTROL = "public, max-age=300"
# jsQR, vendored from npm (`make vendor`): decodes a screenshot's QR symbol in the browser.
VENDOR = Path(__file__).resolve().parent.parent / "static" / "vendor"
JSQR = "jsQR.js"
# It changes only with a new pinned version: a day in any cache, revalidated by its ETag.
VENDOR_CACHE_CONTROL = "public, max-age=86400"


@bp.get("/lookup")
@operation(
    "The H5 lookup page (HTML): results by registration code and ID number, no platform needed",
    traffic=TrafficClass.CRITICAL,
    auth=False,
)
def page() -> ResponseReturnValue:
    # The page's own script and style are inline and allowed by their hashes, so the policy
    # needs no 'unsafe-inline' and the page stays cacheable. The QR decoder is the one script
    # from 'self' (loaded only when a screenshot is picked, never from another host); blob:
    # images are the picked screenshot, read in the browser and never uploaded.
    script = render_template("lookup/lookup.js")
    style = render_template("lookup/lookup.css")
    # Its words in both languages, as data (a JSON block, never run): see lookup/page.py.
    words = page_text_json(_lookup_codes(), wiring().settings.results.overdue_hours)
    html = render_template("lookup/index.html", words=words)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"script-src 'self' '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "connect-src 'self'; img-src data: blob:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = PAGE_CACHE_CONTROL
    return response


@bp.get("/lookup/jsQR.js")
@operation(
    "The QR decoder the H5 lookup page loads to read a screenshot (jsQR, vendored)",
    # Critical like the page: residents reach for it when the mini-programs are throttled.
    traffic=TrafficClass.CRITICAL,
    auth=False,
)
def jsqr() -> ResponseReturnValue:
    response = send_from_directory(VENDOR, JSQR, mimetype="text/javascript")
    response.headers["Cache-Control"] = VENDOR_CACHE_CONTROL
    return response


@bp.post("/api/v1/lookup")
@operation(
    "Latest result and recent history by registration code and the full ID number (the H5 "
    "path: no login, hard limits per code and per client address, at most 10 failures per "
    "code, then 423 lookup_locked until the code is re-issued)",
    traffic=TrafficClass.CRITICAL,
    auth=False,
    abusable=True,
    body=LookupIn,
    response=LookupOut,
    errors=(400, 404, 410, 415, 423, 429, 503),
    # Besides what any route may answer (the overload contract, the body's parse errors).
    codes=("bad_request", "not_found", "code_expired", "lookup_locked"),
)
def post_lookup() -> ResponseReturnValue:
    attempt = parse_body(LookupIn)
    language = language_of(request.environ)  # of the guidance
    wire = wiring()
    with wire.db.session() as session:
        found = service.look_up(
            session,
            attempt,
            address=request.remote_addr or "",
            client=wire.redis,
            readmodel=wire.readmodel,
            crypto=wire.crypto,
            codes=wire.settings.codes,
            results=wire.settings.results,
            now=datetime.now(UTC),
            language=language,
        )
    headers = {
        "Cache-Control": "no-store",
        "Content-Language": CONTENT_LANGUAGE[language],
        "Vary": "Accept-Language",
    }
    return found.model_dump(mode="json"), 200, headers


@cache
def _lookup_codes() -> tuple[str, ...]:
    """The error codes ``POST /api/v1/lookup`` may answer, as the OpenAPI document lists them."""
    found = operation_of(post_lookup)
    assert found is not None
    return tuple(answerable_codes(found))


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
