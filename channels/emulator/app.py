"""The emulator's Flask app: WeChat and Alipay HTTP APIs plus ``/_emulator`` controls."""

from __future__ import annotations

from flask import Flask

from channels.emulator import alipay, control, cors, wechat
from channels.emulator.config import EmulatorConfig
from channels.emulator.state import EmulatorState


def create_emulator(config: EmulatorConfig) -> Flask:
    """Build an emulator for the given registered apps. State lives in ``app.extensions``."""
    config = config.with_platform_key()
    state = EmulatorState(code_ttl_seconds=config.code_ttl_seconds)
    app = Flask("channels.emulator")
    app.extensions["emulator_state"] = state
    app.extensions["emulator_config"] = config
    app.register_blueprint(control.blueprint(state))
    app.register_blueprint(wechat.blueprint(state, config))
    app.register_blueprint(alipay.blueprint(state, config))
    # The simulator page (another origin) drives the /_emulator controls from the browser.
    cors.allow_cross_origin(app)
    return app
