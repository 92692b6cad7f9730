"""Serves the simulator page; it talks to our API and to the emulator's control endpoints."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, render_template, send_from_directory
from flask.typing import ResponseReturnValue

from miniapp_api.errors import NotFound
from miniapp_api.legal.labels import AUDIENCE
from miniapp_api.review.accounts import DEMO_PASSWORD, DEMO_REVIEWER
from miniapp_api.review.views import EXTENSION_KEY as REVIEWERS_KEY
from miniapp_api.settings import templates_dir
from miniapp_api.simulator.demo import DEMO_EXTENSION_KEY, DemoOperators
from miniapp_api.wiring import wiring

bp = Blueprint("simulator", __name__)

# The page's script and style files, next to its template (templates/simulator/). Only these
# are served.
ASSETS = {
    "simulator.css": "text/css",
    "common.js": "text/javascript",
    "screens.js": "text/javascript",
    "phone.js": "text/javascript",
    "subscriptions.js": "text/javascript",
    "links.js": "text/javascript",
    "operators.js": "text/javascript",
    "main.js": "text/javascript",
}


@bp.get("/")
def page() -> ResponseReturnValue:
    settings = wiring().settings
    # Present only where `miniapp dev` (or a browser test) seeded the demo operators.
    demo = current_app.extensions.get(DEMO_EXTENSION_KEY)
    return render_template(
        "simulator/index.html",
        emulator_url=settings.simulator_emulator_url,
        wechat_enabled=settings.wechat is not None,
        alipay_enabled=settings.alipay is not None,
        demo=asdict(demo) if isinstance(demo, DemoOperators) else None,
        review=_demo_reviewer(),
        audience=AUDIENCE,
    )


def _demo_reviewer() -> dict[str, str] | None:
    """The documented demo reviewer's credentials, for the "log in as reviewer" button: only
    where review mode is on and that reviewer is configured (the embedded default)."""
    reviewers = current_app.extensions.get(REVIEWERS_KEY, {})
    if not wiring().settings.review.enabled or DEMO_REVIEWER not in reviewers:
        return None
    return {"username": DEMO_REVIEWER, "password": DEMO_PASSWORD}


@bp.get("/simulator/<name>")
def asset(name: str) -> ResponseReturnValue:
    mimetype = ASSETS.get(name)
    if mimetype is None:
        raise NotFound("No such simulator file.")
    # A development page: always revalidate, so an edited file shows on the next reload.
    folder = templates_dir() / "simulator"
    return send_from_directory(folder, name, mimetype=mimetype, max_age=0)
