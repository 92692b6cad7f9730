"""Liveness, readiness, Prometheus metrics, the OpenAPI document, and the operators' controls.

``/healthz`` is public and does no I/O (HAProxy's health check). ``/readyz`` (a database and a
Redis round trip), ``/metrics`` and ``/openapi.json`` answer on the internal bind or to an
operator token, else 401 (``ops/internal.py``); ``OPS.PUBLIC_DOCS`` (development only) leaves
``/openapi.json`` open to the front-end developers of ``make run``.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.notify.backlog import OutboxBacklog
from miniapp_api.openapi import build_document
from miniapp_api.ops import service
from miniapp_api.ops.auth import require_operator
from miniapp_api.ops.edge_metrics import reader_of
from miniapp_api.ops.internal import require_internal_or_operator
from miniapp_api.ops.schema_revision import (
    SchemaStatus,
    code_revisions,
    compare,
    database_revisions,
)
from miniapp_api.ops.schemas import ControlsIn, ControlsOut, EdgeOut
from miniapp_api.overload.metrics import exposition
from miniapp_api.wiring import wiring

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness only: answers while the process serves, whatever Redis and the database do."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready for traffic: the database answers at the code's schema revision (or a newer one:
    expand before deploy) and Redis answers; else 503, each check saying what is wrong."""
    wire = wiring()
    require_internal_or_operator(wire.settings.ops)
    checks: dict[str, str] = {}
    checks["database"], schema = _database_and_schema(wire.db.engine)
    if schema is not None:
        checks["migrations"] = schema.summary
    try:
        wire.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = type(exc).__name__
    ready = checks["database"] == checks["redis"] == "ok" and schema is not None and schema.ready
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


def _database_and_schema(engine: Engine) -> tuple[str, SchemaStatus | None]:
    """The database check, and its schema revision against the code's (``None`` when the
    database does not answer). One query; a second only when ``alembic_version`` is missing."""
    code = code_revisions()  # outside the try: several heads is a bug of the code, not the db
    try:
        with engine.connect() as connection:
            try:
                found = database_revisions(connection)
            except DBAPIError:
                # No alembic_version (never migrated), or the database is gone: SELECT 1 tells.
                connection.rollback()
                connection.execute(text("SELECT 1"))
                found = frozenset()
    except Exception as exc:  # noqa: BLE001  readiness reports any failure, whatever it is
        return type(exc).__name__, None
    return "ok", compare(found, code)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: admission decisions per class, channel, outcome and reason, and
    the outbox backlog (read from the database at each scrape)."""
    require_internal_or_operator(wiring().settings.ops)
    body, content_type = exposition(OutboxBacklog(wiring().db))
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    ops = wiring().settings.ops
    if not ops.public_docs:
        require_internal_or_operator(ops)
    return api_document(current_app)


def api_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s routes (also printed by ``miniapp openapi``)."""
    return build_document(app, "Nucleic-acid screening mini-program API", "1")


# --- run-time controls (critical: operators must get through while the system sheds) --------


@bp.get("/api/v1/ops/limits")
@operation(
    "Run-time limits and modes, and the platforms' status (operators)",
    traffic=TrafficClass.CRITICAL,
    response=ControlsOut,
    errors=(401,),
)
def get_limits() -> ResponseReturnValue:
    require_operator()
    wire = wiring()
    return service.current_controls(wire.redis, wire.settings.overload).model_dump(mode="json")


@bp.put("/api/v1/ops/limits")
@operation(
    "Change limits and modes; every worker applies them within a second (operators)",
    traffic=TrafficClass.CRITICAL,
    body=ControlsIn,
    response=ControlsOut,
    errors=(401, 409, 415),
)
def put_limits() -> ResponseReturnValue:
    operator = require_operator()
    change = parse_body(ControlsIn)
    wire = wiring()
    with wire.db.session() as session:
        saved = service.change_controls(
            wire.redis,
            change,
            operator=operator,
            settings=wire.settings.overload,
            session=session,
            request_id=g.get("request_id", ""),
        )
    return saved.model_dump(mode="json")


@bp.get("/api/v1/ops/edge")
@operation(
    "The front door's queue, refusals and nodes, read from HAProxy's metrics (operators)",
    traffic=TrafficClass.CRITICAL,
    response=EdgeOut,
    errors=(401,),
)
def get_edge() -> ResponseReturnValue:
    # Not configured and unreachable are answers (200), not errors: the console polls this
    # every 3 s, hides the panel for the first and says the second, and its other charts go on.
    require_operator()
    url = wiring().settings.ops.edge_metrics_url
    return reader_of(current_app, url).read().model_dump(mode="json")


@bp.get("/ops")
@operation("The ops console (an HTML page)", traffic=TrafficClass.CRITICAL, auth=False)
def console() -> ResponseReturnValue:
    # The page's inline script and style run by a fresh nonce, so nothing injected into it
    # would, and it talks to this server only (/metrics with its operator token,
    # /api/v1/ops/limits and /edge: the edge's own metrics are on an internal port the server
    # reads for it). Its forms are
    # handled by the script: 'none' keeps a token from ever leaving in a form's URL.
    nonce = secrets.token_urlsafe(18)
    response = Response(render_template("ops.html", nonce=nonce), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src data:; form-action 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"  # a nonce is good for one response only
    return response
