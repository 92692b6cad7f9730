"""Liveness, readiness (database and Redis), Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from miniapp_api.openapi import build_document
from miniapp_api.overload.metrics import exposition
from miniapp_api.wiring import wiring

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    wire = wiring()
    checks: dict[str, str] = {}
    try:
        with wire.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  readiness reports any failure, whatever it is
        checks["database"] = type(exc).__name__
    try:
        wire.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: admission decisions per class, channel, outcome and reason."""
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return build_document(current_app, "Nucleic-acid screening mini-program API", "1")
