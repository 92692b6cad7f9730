"""The platform emulator as a gunicorn app for benchmarks: ``gunicorn '_emulator_app:create()'``.

Served by gunicorn's gthread worker (one process: the emulator's state is in memory) rather than
werkzeug's server, because werkzeug closes every connection after one answer while the real
platforms keep connections alive; with keep-alive the app's own HTTP connection pool is
exercised as in production. Calls sleeping in an injected latency each hold one thread, so the
thread count must exceed the calls in flight (rate x latency).

The registered WeChat app comes from ``BENCH_WECHAT_APP_ID`` / ``BENCH_WECHAT_APP_SECRET``
(environment, so the secret stays out of ``ps``); no Alipay app is registered.

One bench-only route is added, ``POST /_bench/wechat/logins {"openids": [...]}`` →
``{"codes": [...]}``: the batch form of ``POST /_emulator/wechat/login`` (same state, same
single-use codes), so that thousands of codes are pre-issued in milliseconds, not seconds.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator import EmulatorConfig, create_emulator
from channels.emulator.state import EmulatorState
from channels.emulator.wechat import LOGIN_CODE


def create() -> Flask:
    """The emulator with our WeChat app registered, plus the batch login route."""
    config = EmulatorConfig(
        wechat_apps={os.environ["BENCH_WECHAT_APP_ID"]: os.environ["BENCH_WECHAT_APP_SECRET"]}
    )
    app = create_emulator(config)
    state: EmulatorState = app.extensions["emulator_state"]

    @app.post("/_bench/wechat/logins")
    def batch_login() -> ResponseReturnValue:
        openids = (request.get_json(silent=True) or {}).get("openids")
        if not isinstance(openids, list) or not all(isinstance(o, str) and o for o in openids):
            return jsonify(error="openids: a list of non-empty strings"), 400
        # Exactly what /_emulator/wechat/login does for each openid (no unionid).
        return jsonify(codes=[state.issue_code(LOGIN_CODE, o, unionid=None) for o in openids])

    return app
