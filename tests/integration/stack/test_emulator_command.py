"""``miniapp emulator --print-config``: settings a production-shaped (staging) node starts with,
and with which it logs in on both platforms through an emulator run from the same secrets."""

from __future__ import annotations

import base64
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from flask import Config

from channels.emulator import RunningEmulator, start_in_thread
from miniapp_api import create_app
from miniapp_api.devserver import dev_secrets, emulator_config
from miniapp_api.settings import ConfigurationError, load_config, validate
from miniapp_api.stack import emulator as command
from tests.conftest import REDIS_URL, code_signing_keys, empty_tables
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def parse(output: str) -> dict[str, str]:
    """``NAME='value'`` lines (values over several lines) as a shell would read them."""
    lexer = shlex.shlex(output, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return dict(token.split("=", 1) for token in lexer)


@pytest.fixture
def secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command's development secrets in a file of this test, not the checkout's."""
    path = tmp_path / "dev-secrets.json"
    monkeypatch.setattr(command, "dev_secrets", lambda: dev_secrets(path))
    monkeypatch.delenv("MINIAPP_ENV", raising=False)
    return path


def printed(*args: str) -> dict[str, str]:
    result = CliRunner().invoke(command.emulator, ["--print-config", *args])
    assert result.exit_code == 0, result.output
    return parse(result.output)


def the_rest(database_url: str) -> dict[str, str]:
    """What a node needs besides the platforms: its services and its own keys."""
    key = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return {
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": REDIS_URL,
        "MINIAPP_SECURITY__DATA_KEY": key(),
        "MINIAPP_SECURITY__INDEX_KEY": key(),
        "MINIAPP_CODES__SIGNING_KEYS": code_signing_keys(),
    }


def configured(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> Config:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    config = Config(".")
    load_config(config)
    return config


def test_the_printed_settings_are_a_valid_staging_configuration(
    secrets_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = printed("--url", "http://emulator.demo.internal:8765/")

    settings = validate(configured(monkeypatch, {**found, **the_rest("postgresql://db/x")}))

    assert settings.env == "staging"
    assert settings.wechat is not None
    assert settings.alipay is not None
    assert settings.wechat.api_base_url == "http://emulator.demo.internal:8765"
    assert settings.alipay.gateway_url == "http://emulator.demo.internal:8765/gateway.do"
    assert settings.notify.wechat_template_id  # results are pushed to the emulated phones


def test_production_refuses_them(secrets_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = {**printed(), "MINIAPP_ENV": "production"}
    with pytest.raises(ConfigurationError, match="WECHAT__API_BASE_URL must be https://"):
        validate(configured(monkeypatch, {**found, **the_rest("postgresql://db/x")}))


@pytest.fixture
def demo_emulator(secrets_file: Path) -> Iterator[RunningEmulator]:
    """The emulator as ``miniapp emulator`` runs it (same secrets, development app ids)."""
    config = Config(".")
    load_config(config)
    running = start_in_thread(emulator_config(dev_secrets(secrets_file), dict(config)))
    yield running
    running.stop()


def test_a_node_with_the_printed_settings_logs_in_through_the_emulator(
    demo_emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = printed("--url", demo_emulator.base_url)
    for name, value in {**found, **the_rest(postgres_url)}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    try:
        client = app.test_client()
        phone = EmulatorPhone(demo_emulator.base_url)
        for platform in ("wechat", "alipay"):
            user = MiniProgramUser(client, phone, platform)
            assert user.login(consent=False).status_code == 200, user.last
            assert user.bind_phone("13912345678").status_code == 200
    finally:
        empty_tables(app)
        app.extensions["miniapp"].db.dispose()
        app.extensions["miniapp"].redis.close()
