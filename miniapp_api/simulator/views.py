"""Serves the simulator page; it talks to our API and to the emulator's control endpoints."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from miniapp_api.wiring import wiring

bp = Blueprint("simulator", __name__)


@bp.get("/")
def page() -> ResponseReturnValue:
    settings = wiring().settings
    return render_template(
        "simulator/index.html",
        emulator_url=settings.simulator_emulator_url,
        wechat_enabled=settings.wechat is not None,
        alipay_enabled=settings.alipay is not None,
    )
