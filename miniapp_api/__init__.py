"""The Flask app for the screening mini-programs. ``create_app`` is the only thing here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from channels.base import LoginChannel, Platform


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    channels: Mapping[Platform, LoginChannel] | None = None,
) -> Flask:
    """Build the app: config, logging, wiring, blueprints, error handlers, admission control.

    No I/O happens here.

    ``channels`` replaces the adapters built from configuration (tests use the fake channel).
    """
    # Imported here so that importing the package (e.g. for Alembic) stays cheap.
    from miniapp_api.admission.install import install as install_admission_control
    from miniapp_api.clock import apply_process_timezone
    from miniapp_api.errors import register_error_handlers
    from miniapp_api.headers import register_security_headers
    from miniapp_api.logging import configure_logging, register_request_logging
    from miniapp_api.ops.auth import install_operator_auth
    from miniapp_api.platforms import build_channels
    from miniapp_api.redis_client import make_redis
    from miniapp_api.review.views import install_reviewers
    from miniapp_api.settings import load_config, templates_dir, validate
    from miniapp_api.wiring import EXTENSION_KEY, build_wiring

    app = Flask(__name__, template_folder=str(templates_dir()))
    # Chinese as UTF-8 in every JSON answer (names, sites, guidance), as the error bodies
    # already were: half the bytes of \uXXXX, and what a person reading a body expects.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    load_config(app.config, overrides)
    settings = validate(app.config)
    # Werkzeug refuses a larger body before reading it (413, errors.py); batch routes raise it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    configure_logging(settings.log_level)
    apply_process_timezone(settings.timezone)

    redis_client = make_redis(settings.redis)
    if channels is None:
        channels = build_channels(settings, redis_client)
    wire = app.extensions[EXTENSION_KEY] = build_wiring(settings, redis_client, channels)

    install_operator_auth(app)
    install_reviewers(app, production=settings.env == "production")
    register_request_logging(app, probes=settings.log_probes)
    register_security_headers(app)
    register_blueprints(app, simulator=bool(settings.simulator_emulator_url))
    register_error_handlers(app, wire.rejections)
    install_admission_control(app, wire)
    if settings.trusted_proxies:
        # Outermost, so admission control already sees the client's address. Per-app objects
        # (the gate, the rejection renderer) are found by name in app.extensions, so nothing
        # needs to see through this wrapper.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    return app


def register_blueprints(app: Flask, *, simulator: bool) -> None:
    """Every blueprint, listed explicitly. The simulator page exists only where configured."""
    from miniapp_api.appconfig.views import bp as appconfig_bp
    from miniapp_api.auth.views import bp as auth_bp
    from miniapp_api.codes.views import bp as codes_bp
    from miniapp_api.lab.views import bp as lab_bp
    from miniapp_api.legal.views import bp as legal_bp
    from miniapp_api.lookup.views import bp as lookup_bp
    from miniapp_api.notify.views import bp as notify_bp
    from miniapp_api.ops.views import bp as ops_bp
    from miniapp_api.residents.views import bp as residents_bp
    from miniapp_api.results.views import bp as results_bp
    from miniapp_api.review.views import bp as review_bp
    from miniapp_api.rights.views import bp as rights_bp
    from miniapp_api.sampling.views import bp as sampling_bp
    from miniapp_api.simulator.views import bp as simulator_bp

    blueprints = (
        auth_bp,
        review_bp,
        residents_bp,
        rights_bp,
        codes_bp,
        sampling_bp,
        lab_bp,
        results_bp,
        lookup_bp,
        legal_bp,
        notify_bp,
        appconfig_bp,
        ops_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    if simulator:
        app.register_blueprint(simulator_bp)
