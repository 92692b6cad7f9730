"""``MINIAPP_ENV=production`` refuses to start on development values, naming every one of them
at once; ``staging`` (production-shaped, with the emulator) and development do not."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Config

from miniapp_api.settings import ConfigurationError, load_config, validate
from tests.conftest import code_signing_keys

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_like(**changes: Any) -> dict[str, Any]:
    """A configuration production accepts, with ``changes`` (SECTION__KEY=value) applied."""
    config: dict[str, Any] = {
        "APP": {"PUBLIC_BASE_URL": "https://hesuan.example.gov.cn", "TRUSTED_PROXIES": 1},
        "DATABASE": {"URL": "postgresql+psycopg://app@db.internal/miniapp"},
        "REDIS": {"URL": "redis://redis.internal:6379/0"},
        "SECURITY": {"DATA_KEY": key(), "INDEX_KEY": key()},
        "WECHAT": {
            "APP_ID": "wx1",
            "APP_SECRET": "s",
            "API_BASE_URL": "https://api.weixin.qq.com",
        },
        "ALIPAY": {
            "APP_ID": "2021",
            "APP_PRIVATE_KEY": "k",
            "ALIPAY_PUBLIC_KEY": "p",
            "AES_KEY": "a",
            "GATEWAY_URL": "https://openapi.alipay.com/gateway.do",
        },
        "SIMULATOR": {"EMULATOR_URL": ""},
        "CODES": {"SIGNING_KEYS": code_signing_keys()},
    }
    for name, value in changes.items():
        section, _, field = name.partition("__")
        config[section][field] = value
    return config


def loaded(env: str, overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("MINIAPP_ENV", env)
    config = Config(".")
    load_config(config, overrides)
    return config


def test_a_production_configuration_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = validate(loaded("production", production_like(), monkeypatch))
    assert settings.env == "production"


def test_zero_trusted_proxies_said_explicitly_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    config = loaded("production", production_like(APP__TRUSTED_PROXIES=0), monkeypatch)
    assert validate(config).trusted_proxies == 0


def test_every_development_value_is_refused_and_named_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    same = key()
    development = production_like(
        APP__PUBLIC_BASE_URL="http://127.0.0.1:8000",
        DATABASE__URL="sqlite:///instance/miniapp.db",
        REDIS__URL="memory://",
        SECURITY__DATA_KEY=same,
        SECURITY__INDEX_KEY=same,
        WECHAT__API_BASE_URL="http://127.0.0.1:8765",
        ALIPAY__GATEWAY_URL="https://openapi.alipay.com.evil.example/gateway.do",
        SIMULATOR__EMULATOR_URL="http://127.0.0.1:8765",
    )
    del development["APP"]["TRUSTED_PROXIES"]

    with pytest.raises(ConfigurationError) as refused:
        validate(loaded("production", development, monkeypatch))

    message = str(refused.value)
    for named in (
        "MINIAPP_DATABASE__URL is SQLite",
        "MINIAPP_REDIS__URL is memory://",
        "MINIAPP_SECURITY__DATA_KEY and MINIAPP_SECURITY__INDEX_KEY are the same key",
        "MINIAPP_WECHAT__API_BASE_URL must be https://api.weixin.qq.com",
        "MINIAPP_ALIPAY__GATEWAY_URL must be https://openapi.alipay.com",
        "MINIAPP_SIMULATOR__EMULATOR_URL is set",
        "MINIAPP_APP__PUBLIC_BASE_URL must be https://",
        "set MINIAPP_APP__TRUSTED_PROXIES",
    ):
        assert named in message
    assert message.count("\n  - ") == 8


def test_equal_data_and_index_keys_are_refused_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    same = key()
    config = production_like(SECURITY__DATA_KEY=same, SECURITY__INDEX_KEY=same)
    with pytest.raises(ConfigurationError, match="are the same key"):
        validate(loaded("development", config, monkeypatch))


def test_production_refuses_a_public_api_document(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {**production_like(), "OPS": {"PUBLIC_DOCS": True}}
    with pytest.raises(ConfigurationError, match="MINIAPP_OPS__PUBLIC_DOCS is on"):
        validate(loaded("production", config, monkeypatch))
    # The embedded default's developers read it without a token (config/development.toml).
    monkeypatch.delenv("MINIAPP_OPS__PUBLIC_DOCS", raising=False)
    assert validate(loaded("development", production_like(), monkeypatch)).ops.public_docs


@pytest.mark.parametrize("bind", ["9100", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"])
def test_an_internal_bind_that_is_not_host_and_port_is_refused(
    monkeypatch: pytest.MonkeyPatch, bind: str
) -> None:
    config = {**production_like(), "OPS": {"INTERNAL_BIND": bind}}
    with pytest.raises(ConfigurationError, match="MINIAPP_OPS__INTERNAL_BIND must be host:port"):
        validate(loaded("production", config, monkeypatch))


def test_the_internal_bind_names_the_port_requests_arrive_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = {**production_like(), "OPS": {"INTERNAL_BIND": "10.0.0.5:9100"}}
    assert validate(loaded("production", config, monkeypatch)).ops.internal_port == "9100"
    assert validate(loaded("production", production_like(), monkeypatch)).ops.internal_port is None


def test_staging_runs_production_shaped_with_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = production_like(
        APP__PUBLIC_BASE_URL="http://127.0.0.1:8000",
        WECHAT__API_BASE_URL="http://127.0.0.1:8765",
        ALIPAY__GATEWAY_URL="http://127.0.0.1:8765/gateway.do",
    )
    del emulator["APP"]["TRUSTED_PROXIES"]
    assert validate(loaded("staging", emulator, monkeypatch)).env == "staging"


def test_gunicorn_without_miniapp_env_does_not_start() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "MINIAPP_ENV is not set" in started.stderr
    assert "Traceback" not in started.stderr


def test_no_secret_is_in_the_repr_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    config = production_like(REDIS__URL="redis://app:redis-password@redis.internal:6379/0")
    config["WECHAT"]["APP_SECRET"] = "wechat-app-secret"
    config["ALIPAY"]["APP_PRIVATE_KEY"] = "alipay-private-key"
    config["ALIPAY"]["AES_KEY"] = "alipay-aes-key"
    settings = validate(loaded("production", config, monkeypatch))

    shown = " ".join(
        repr(part) for part in (settings, settings.wechat, settings.alipay, settings.redis)
    )

    for secret in ("wechat-app-secret", "alipay-private-key", "alipay-aes-key", "redis-password"):
        assert secret not in shown
    assert "wx1" in shown  # what is not secret is still shown


def test_development_secrets_are_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from miniapp_api import devserver

    modes: list[int] = []
    real_fdopen = os.fdopen

    def watched(descriptor: int, *args: Any, **kwargs: Any) -> Any:
        modes.append(os.fstat(descriptor).st_mode & 0o777)  # as the secrets are about to go in
        return real_fdopen(descriptor, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", watched)
    old_umask = os.umask(0)  # the most permissive process
    try:
        path = tmp_path / "dev-secrets.json"
        devserver.dev_secrets(path)
    finally:
        os.umask(old_umask)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert modes
    assert set(modes) == {0o600}
