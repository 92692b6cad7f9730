"""``miniapp emulator``: the WeChat and Alipay emulator as a process (``make emulator``, one of
``miniapp stack up``'s programs, a production-shaped demo), and with ``--print-config`` the
settings that point app nodes at it.

It accepts the development apps: the app ids of the configuration (``config/development.toml``
unless ``MINIAPP_WECHAT__APP_ID`` / ``MINIAPP_ALIPAY__APP_ID`` say otherwise) with the secrets
and keys generated once into ``instance/dev-secrets.json``. Run and asked from the same
checkout, the emulator and the printed settings agree (README, "The platform emulator").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Config

from miniapp_api.devserver import dev_secrets, emulator_config
from miniapp_api.settings import load_config


def emulator_settings(
    found: Mapping[str, str], app_config: Mapping[str, Any], url: str
) -> dict[str, str]:
    """The ``MINIAPP_*`` settings with which an app node logs in, binds phones and pushes
    through the emulator at ``url``, given the development secrets ``found``."""
    wechat, alipay = app_config["WECHAT"]["APP_ID"], app_config["ALIPAY"]["APP_ID"]
    if not wechat or not alipay:
        raise click.UsageError(
            "no app ids: set MINIAPP_WECHAT__APP_ID and MINIAPP_ALIPAY__APP_ID, or leave "
            "MINIAPP_ENV unset (development: config/development.toml has them)"
        )
    url = url.rstrip("/")
    settings = {
        # Production refuses every platform host but the real ones: a demo runs as staging.
        "MINIAPP_ENV": "staging",
        "MINIAPP_WECHAT__APP_ID": str(wechat),
        "MINIAPP_WECHAT__APP_SECRET": found["wechat_app_secret"],
        "MINIAPP_WECHAT__API_BASE_URL": url,
        "MINIAPP_ALIPAY__APP_ID": str(alipay),
        "MINIAPP_ALIPAY__GATEWAY_URL": f"{url}/gateway.do",
        "MINIAPP_ALIPAY__APP_PRIVATE_KEY": found["alipay_app_private_key"],
        "MINIAPP_ALIPAY__ALIPAY_PUBLIC_KEY": found["alipay_platform_public_key"],
        "MINIAPP_ALIPAY__AES_KEY": found["alipay_aes_key"],
    }
    # The emulator takes any template id; without one, results are not pushed at all.
    for key, value in app_config.get("NOTIFY", {}).items():
        if key.endswith("TEMPLATE_ID") and value:
            settings[f"MINIAPP_NOTIFY__{key}"] = str(value)
    return settings


def env_file(settings: Mapping[str, str]) -> str:
    """``NAME='value'`` lines, read alike by ``set -a; . file`` and by env-file readers (the
    PEM keys span lines inside their single quotes)."""
    lines = [
        "# The platform emulator's apps, for app nodes (miniapp emulator --print-config).",
        "# Demo credentials only: never point a node holding real residents' data at it.",
    ]
    for name, value in settings.items():
        if "'" in value:  # none of ours has one; a quote would end the value early
            raise ValueError(f"{name} holds a single quote")
        lines.append(f"{name}='{value}'")
    return "\n".join(lines)


@click.command("emulator")  # a plain click command: no app, no app context
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--print-config",
    is_flag=True,
    help="print the MINIAPP_* settings that point app nodes at this emulator, and exit",
)
@click.option(
    "--url",
    help="with --print-config: the emulator's address as the app nodes reach it "
    "[default: http://HOST:PORT]",
)
def emulator(host: str, port: int, print_config: bool, url: str | None) -> None:
    """Run only the platform emulator, with the development apps registered."""
    from channels.emulator import start_in_thread

    config = Config(".")
    load_config(config)
    found = dev_secrets()
    if print_config:
        click.echo(env_file(emulator_settings(found, config, url or f"http://{host}:{port}")))
        return
    running = start_in_thread(emulator_config(found, dict(config)), host=host, port=port)
    click.echo(f"platform emulator on {running.base_url}; Ctrl-C stops it")
    running.thread.join()
