"""`make run`: the embedded default in one process.

SQLite, the in-process Redis stand-in, the platform emulator on loopback and the simulator page.
Development secrets are generated once into ``instance/dev-secrets.json`` (git-ignored) so that
encrypted data in the SQLite file stays readable across restarts. Never use this in production.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from channels.emulator import AlipayApp, EmulatorConfig, RunningEmulator, start_in_thread
from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem

INSTANCE = Path(__file__).resolve().parent.parent / "instance"
SECRETS_FILE = INSTANCE / "dev-secrets.json"


def dev_secrets(path: Path = SECRETS_FILE) -> dict[str, str]:
    """Load the development secrets, generating them on first use."""
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        # Files from before registration codes existed get their key added once.
        if "code_signing_key" not in loaded:
            loaded["code_signing_key"] = base64.b64encode(secrets.token_bytes(32)).decode()
            path.write_text(json.dumps(loaded, indent=2))
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
        "code_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(created, indent=2))
    path.chmod(0o600)
    return created


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


def run(port: int, emulator_port: int) -> None:
    """Prepare, migrate, start the emulator, then serve the app until interrupted."""
    from werkzeug.serving import run_simple

    from miniapp_api import create_app
    from miniapp_api.migrate import upgrade

    found = dev_secrets()
    for name, value in embedded_environment(found, port, emulator_port).items():
        os.environ.setdefault(name, value)
    app = create_app()
    upgrade(app.extensions["miniapp"].settings.database_url)
    emulator: RunningEmulator = start_in_thread(
        emulator_config(found, dict(app.config)), port=emulator_port
    )
    print(
        f"\n  Mini-program simulator:  http://127.0.0.1:{port}/\n"
        f"  API description:         http://127.0.0.1:{port}/openapi.json\n"
        f"  Platform emulator:       {emulator.base_url}\n"
        "  (embedded default: SQLite in instance/, in-process Redis stand-in, one process)\n",
        flush=True,
    )
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    finally:
        emulator.stop()
