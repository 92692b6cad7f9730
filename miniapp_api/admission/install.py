"""Wire admission control into an app (called by ``create_app`` after the blueprints).

The gate is a per-app object, kept in ``app.extensions[GATE_KEY]`` and found there by name
(:func:`gate_of`): the worker's door needs its route classifier, tests inspect it. Nothing looks
for it by walking ``app.wsgi_app``, which any proxy middleware (ProxyFix) wraps.
"""

from __future__ import annotations

from flask import Flask

from miniapp_api.admission.gate import AdmissionGate
from miniapp_api.admission.kept import KeptAnswers
from miniapp_api.admission.middleware import AdmissionMiddleware
from miniapp_api.admission.routes import RouteClassifier
from miniapp_api.sampling.guard import staff_sessions
from miniapp_api.wiring import Wiring

GATE_KEY = "miniapp.admission"


def install(app: Flask, wire: Wiring) -> AdmissionGate | None:
    """The admission gate in front of the app, unless ``OVERLOAD.ENABLED`` is off."""
    settings = wire.settings.overload
    if not settings.enabled:
        return None
    gate = app.extensions[GATE_KEY] = AdmissionGate(
        classifier=RouteClassifier(app),
        client=wire.redis,
        sessions=wire.sessions,
        staff_sessions=staff_sessions(wire.redis),
        settings=settings,
        controls=wire.controls,
    )
    kept = KeptAnswers(wire.settings.codes.signing_key.kid)
    app.wsgi_app = AdmissionMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, gate, wire.rejections, kept
    )
    return gate


def gate_of(app: Flask) -> AdmissionGate | None:
    """The app's admission gate, if admission control is on."""
    found = app.extensions.get(GATE_KEY)
    return found if isinstance(found, AdmissionGate) else None
