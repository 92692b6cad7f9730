"""The platform emulators as gunicorn apps for benchmarks: ``gunicorn '_emulator_app:create()'``.

Served by gunicorn's gthread worker (one process: the emulator's state is in memory) rather than
werkzeug's server, because werkzeug closes every connection after one answer while the real
platforms keep connections alive; with keep-alive the app's own HTTP connection pool is
exercised as in production. Calls sleeping in an injected latency each hold one thread, so the
thread count must exceed the calls in flight (rate x latency).

Two factories, one per platform, as the platforms are two hosts (``bench/login.py`` runs each
in its own gunicorn):

- ``create()``: our WeChat app registered from ``BENCH_WECHAT_APP_ID`` /
  ``BENCH_WECHAT_APP_SECRET`` (environment, so the secret stays out of ``ps``), no Alipay app;
  plus ``POST /_bench/wechat/logins {"openids": [...]}`` → ``{"codes": [...]}``, the batch form
  of ``POST /_emulator/wechat/login`` (same state, same single-use codes).
- ``create_alipay_emulator()``: our Alipay app registered from ``BENCH_ALIPAY_*`` variables;
  plus ``POST /_bench/alipay/logins {"user_ids": [...]}`` → ``{"codes": [...]}``, the batch form
  of ``POST /_emulator/alipay/login {"user_id"}`` (``my.getAuthCode``).

The batch routes pre-issue thousands of codes in milliseconds, not seconds.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator import AlipayApp, EmulatorConfig, create_emulator
from channels.emulator.alipay import LOGIN_CODE as ALIPAY_LOGIN_CODE
from channels.emulator.state import EmulatorState
from channels.emulator.wechat import LOGIN_CODE as WECHAT_LOGIN_CODE


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
        return jsonify(
            codes=[state.issue_code(WECHAT_LOGIN_CODE, o, unionid=None) for o in openids]
        )

    return app


def create_alipay_emulator() -> Flask:
    """The emulator with our Alipay app registered, plus the batch login route.

    The app's public key, its AES key and the platform's private key (the emulator signs its
    answers) come from ``BENCH_ALIPAY_APP_ID``, ``BENCH_ALIPAY_APP_PUBLIC_KEY``,
    ``BENCH_ALIPAY_AES_KEY`` and ``BENCH_ALIPAY_PLATFORM_PRIVATE_KEY``.
    """
    app_id = os.environ["BENCH_ALIPAY_APP_ID"]
    config = EmulatorConfig(
        alipay_apps={
            app_id: AlipayApp(
                os.environ["BENCH_ALIPAY_APP_PUBLIC_KEY"], os.environ["BENCH_ALIPAY_AES_KEY"]
            )
        },
        alipay_platform_private_key=os.environ["BENCH_ALIPAY_PLATFORM_PRIVATE_KEY"],
    )
    app = create_emulator(config)
    state: EmulatorState = app.extensions["emulator_state"]

    @app.post("/_bench/alipay/logins")
    def batch_login() -> ResponseReturnValue:
        user_ids = (request.get_json(silent=True) or {}).get("user_ids")
        if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
            return jsonify(error="user_ids: a list of non-empty strings"), 400
        # Exactly what /_emulator/alipay/login does for a user_id (no app_id: any app's code).
        return jsonify(
            codes=[state.issue_code(ALIPAY_LOGIN_CODE, u, field="user_id") for u in user_ids]
        )

    return app
