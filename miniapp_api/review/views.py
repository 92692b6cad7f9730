"""``POST /api/v1/auth/review``: the platforms' reviewers log in to their sandbox.

Review mode off (``[REVIEW] ENABLED``, the default), the route answers 404 as an unknown
route would, before reading the body.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.auth.schemas import LoginOut
from miniapp_api.review import service
from miniapp_api.review.accounts import DEMO_REVIEWER, Reviewer, has_demo_password, parse_reviewers
from miniapp_api.review.schemas import ReviewLoginIn
from miniapp_api.security.passwords import FailedLogins
from miniapp_api.settings import ConfigurationError
from miniapp_api.wiring import wiring

bp = Blueprint("review", __name__, url_prefix="/api/v1/auth")
EXTENSION_KEY = "miniapp.reviewers"


def install_reviewers(app: Flask, *, production: bool) -> dict[str, Reviewer]:
    """Read ``REVIEW.ACCOUNTS`` at start-up; a malformed list, or the documented demo reviewer
    in production, stops the app."""
    section = app.config.get("REVIEW") or {}
    try:
        reviewers = parse_reviewers(section.get("ACCOUNTS"))
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"MINIAPP_REVIEW__ACCOUNTS is not valid: {exc}") from None
    if production and any(
        name == DEMO_REVIEWER or has_demo_password(r) for name, r in reviewers.items()
    ):
        raise ConfigurationError(
            "MINIAPP_REVIEW__ACCOUNTS holds the documented demo reviewer: make one with "
            "`miniapp review account create --name <name>`"
        )
    app.extensions[EXTENSION_KEY] = reviewers
    return reviewers


@bp.post("/review")
@operation(
    "Reviewer login (review mode only, 404 otherwise): an ordinary session on a sandbox of "
    "synthetic people (README, For platform review)",
    traffic=TrafficClass.CRITICAL,
    body=ReviewLoginIn,
    response=LoginOut,
    auth=False,
    errors=(400, 401, 404, 415, 422, 429, 503),
)
def login_review() -> ResponseReturnValue:
    wire = wiring()
    if not wire.settings.review.enabled:
        raise NotFound()  # as an unknown route: nothing tells that review mode exists
    body = parse_body(ReviewLoginIn)
    with wire.db.session() as session:
        out = service.login(
            session,
            body.username,
            body.password,
            reviewers=current_app.extensions.get(EXTENSION_KEY, {}),
            failures=FailedLogins(wire.redis, "reviewer"),
            address=request.remote_addr or "-",
            crypto=wire.crypto,
            readmodel=wire.readmodel,
            client=wire.redis,
            sessions=wire.sessions,
            now=datetime.now(UTC),
            request_id=g.get("request_id", ""),
        )
    return out.model_dump(mode="json")
