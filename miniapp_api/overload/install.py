"""Wire overload protection into an app (called by ``create_app`` after the blueprints)."""

from __future__ import annotations

from flask import Flask

from miniapp_api.overload import responses
from miniapp_api.overload.admission import AdmissionGate
from miniapp_api.overload.controls import ControlsCache, default_controls
from miniapp_api.overload.middleware import AdmissionMiddleware
from miniapp_api.overload.routes import RouteClassifier
from miniapp_api.wiring import Wiring


def install(app: Flask, wire: Wiring) -> AdmissionGate | None:
    """The rejection contract always; the admission gate unless ``OVERLOAD.ENABLED`` is off."""
    responses.register_error_handlers(app)
    settings = wire.settings.overload
    if not settings.enabled:
        return None
    gate = AdmissionGate(
        classifier=RouteClassifier(app),
        client=wire.redis,
        sessions=wire.sessions,
        settings=settings,
        controls=ControlsCache(default_controls(settings), settings.controls_refresh_seconds),
    )
    app.wsgi_app = AdmissionMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        gate,
        platforms=tuple(str(p) for p in wire.channels),
        lookup_url=f"{wire.settings.public_base_url}/lookup",
    )
    return gate
