"""`make run`: the embedded default in one process.

SQLite, the in-process Redis stand-in, the platform emulator on loopback, the push worker in a
thread, and the simulator page with demo operators (a round, a site, a lab, a staff member),
and a demo operator token for the ops console (printed in the banner).
Development secrets are generated once into ``instance/dev-secrets.json`` (git-ignored) so that
encrypted data in the SQLite file stays readable across restarts. Never use this in production.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from channels.emulator import AlipayApp, EmulatorConfig, RunningEmulator, start_in_thread
from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem
from miniapp_api.review.accounts import DEMO_PASSWORD, DEMO_REVIEWER
from miniapp_api.wiring import wiring_of

INSTANCE = Path(__file__).resolve().parent.parent / "instance"
SECRETS_FILE = INSTANCE / "dev-secrets.json"
DEMO_OPERATOR = "demo"  # the ops console's operator in the embedded default
# How long the push worker idles between empty batches: a result reaches the phone within ~1 s.
PUSH_POLL_SECONDS = 1.0


def _code_signing_key() -> dict[str, str]:
    return {"code_signing_key": base64.b64encode(secrets.token_bytes(32)).decode()}


def _demo_operator() -> dict[str, str]:
    from miniapp_api.ops.auth import new_token

    token, operator = new_token(DEMO_OPERATOR)
    return {"ops_demo_token": token, "ops_demo_token_hash": operator.token_hash}


def _demo_reviewer() -> dict[str, str]:
    """The hash of the documented demo reviewer's password (README, For platform review)."""
    from miniapp_api.review.accounts import DEMO_PASSWORD
    from miniapp_api.security.passwords import HASHER

    return {"review_demo_hash": HASHER.hash(DEMO_PASSWORD)}


# Secrets added after the first files were written: (a key they set, what makes them).
_LATER_SECRETS: dict[str, Callable[[], dict[str, str]]] = {
    "code_signing_key": _code_signing_key,
    "ops_demo_token": _demo_operator,
    "review_demo_hash": _demo_reviewer,
}


def dev_secrets(path: Path = SECRETS_FILE) -> dict[str, str]:
    """Load the development secrets, generating them on first use."""
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        # Files from before registration codes (or the ops console) existed get their
        # secrets added once.
        missing = [make for key, make in _LATER_SECRETS.items() if key not in loaded]
        for make in missing:
            loaded.update(make())
        if missing:
            _write_private(path, json.dumps(loaded, indent=2))
        return loaded
    app_key = generate_rsa_private_key_pem()
    platform_key = generate_rsa_private_key_pem()
    created = {
        "data_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "wechat_app_secret": secrets.token_hex(16),
        "alipay_app_private_key": app_key,
        "alipay_app_public_key": public_key_pem(app_key),
        "alipay_platform_private_key": platform_key,
        "alipay_platform_public_key": public_key_pem(platform_key),
        "alipay_aes_key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    for make in _LATER_SECRETS.values():
        created.update(make())
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(created, indent=2))
    return created


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from the first byte on (a write then
    a chmod leaves the secrets world-readable in between)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def embedded_environment(found: dict[str, str], port: int, emulator_port: int) -> dict[str, str]:
    """MINIAPP_* variables for the embedded default; variables already set win."""
    emulator = f"http://127.0.0.1:{emulator_port}"
    return {
        "MINIAPP_ENV": "development",
        "MINIAPP_APP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "MINIAPP_DATABASE__URL": f"sqlite:///{INSTANCE / 'miniapp.db'}",
        "MINIAPP_REDIS__URL": "memory://",
        "MINIAPP_SECURITY__DATA_KEY": found["data_key"],
        "MINIAPP_SECURITY__INDEX_KEY": found["index_key"],
        "MINIAPP_WECHAT__API_BASE_URL": emulator,
        "MINIAPP_WECHAT__APP_SECRET": found["wechat_app_secret"],
        "MINIAPP_ALIPAY__GATEWAY_URL": f"{emulator}/gateway.do",
        "MINIAPP_ALIPAY__APP_PRIVATE_KEY": found["alipay_app_private_key"],
        "MINIAPP_ALIPAY__ALIPAY_PUBLIC_KEY": found["alipay_platform_public_key"],
        "MINIAPP_ALIPAY__AES_KEY": found["alipay_aes_key"],
        "MINIAPP_SIMULATOR__EMULATOR_URL": emulator,
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps(
            [{"kid": "dev1", "private_key": found["code_signing_key"]}]
        ),
        "MINIAPP_OPS__OPERATORS": json.dumps(
            [{"name": DEMO_OPERATOR, "token_hash": found["ops_demo_token_hash"]}]
        ),
        # Review mode on, with the documented demo reviewer (refused in production).
        "MINIAPP_REVIEW__ENABLED": "true",
        "MINIAPP_REVIEW__ACCOUNTS": json.dumps(
            [{"name": DEMO_REVIEWER, "password_hash": found["review_demo_hash"]}]
        ),
    }


def emulator_config(found: dict[str, str], app_config: dict[str, Any]) -> EmulatorConfig:
    """Register our development apps with the emulator."""
    return EmulatorConfig(
        wechat_apps={str(app_config["WECHAT"]["APP_ID"]): found["wechat_app_secret"]},
        alipay_apps={
            str(app_config["ALIPAY"]["APP_ID"]): AlipayApp(
                found["alipay_app_public_key"], found["alipay_aes_key"]
            )
        },
        alipay_platform_private_key=found["alipay_platform_private_key"],
    )


@dataclass(frozen=True)
class PushWorkerThread:
    """The push worker running in this process; :meth:`stop` ends it after the current row."""

    thread: threading.Thread
    stopping: threading.Event

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)


def start_push_worker(app: Flask, idle_seconds: float = PUSH_POLL_SECONDS) -> PushWorkerThread:
    """Run ``miniapp worker`` in a daemon thread, on the app's own database and channels.

    One process is the point of the embedded default: the in-process Redis stand-in (and the
    channels' token cache in it) is only visible to threads of this process.
    """
    from miniapp_api.notify.worker import PushWorker

    wire = wiring_of(app)
    stopping = threading.Event()
    push = PushWorker(wire.db, wire.channels, wire.settings.notify)
    thread = threading.Thread(
        target=push.run_forever,
        args=(stopping,),
        kwargs={"idle_seconds": idle_seconds},
        name="push-worker",
        daemon=True,
    )
    thread.start()
    return PushWorkerThread(thread, stopping)


def run(port: int, emulator_port: int) -> None:
    """Prepare, migrate, seed the demo operators, start the emulator and the push worker, then
    serve the app until interrupted."""
    from werkzeug.serving import run_simple

    from miniapp_api import create_app
    from miniapp_api.migrate import upgrade
    from miniapp_api.simulator.demo import DEMO_EXTENSION_KEY, ensure_demo_operators

    found = dev_secrets()
    for name, value in embedded_environment(found, port, emulator_port).items():
        os.environ.setdefault(name, value)
    app = create_app()
    wire = wiring_of(app)
    upgrade(wire.settings.database_url)
    demo = ensure_demo_operators(wire.db, wire.crypto)
    app.extensions[DEMO_EXTENSION_KEY] = demo  # what the simulator page pre-fills
    emulator: RunningEmulator = start_in_thread(
        emulator_config(found, dict(app.config)), port=emulator_port
    )
    worker = start_push_worker(app)
    print(
        f"\n  Mini-program simulator:  http://127.0.0.1:{port}/\n"
        f"  API description:         http://127.0.0.1:{port}/openapi.json\n"
        f"  Ops console:             http://127.0.0.1:{port}/ops\n"
        f"  Demo operator token:     {found['ops_demo_token']}\n"
        f"  Demo reviewer:           {DEMO_REVIEWER} / {DEMO_PASSWORD} (review mode is on)\n"
        f"  Platform emulator:       {emulator.base_url}\n"
        f"  Demo round / site:       {demo.round} / {demo.site}\n"
        f"  Demo staff, lab:         {demo.staff_username}, {demo.lab_id} (on the page)\n"
        "  (embedded default: SQLite in instance/, in-process Redis stand-in, push worker\n"
        "   thread, one process)\n",
        flush=True,
    )
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    finally:
        worker.stop()
        emulator.stop()
