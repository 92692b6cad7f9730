"""Start-up validation names everything that is missing."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import tomllib
from typing import Any

import pytest
from flask import Config

from miniapp_api import settings
from miniapp_api.edge.settings import EdgeSettings
from miniapp_api.settings import ConfigurationError, load_config, validate
from tests.conftest import code_signing_keys


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_missing_secrets_are_all_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_ENV", "production")
    config = Config(".")
    load_config(config, {"WECHAT": {"APP_ID": "wx1"}, "ALIPAY": {"APP_ID": "2021"}})
    with pytest.raises(ConfigurationError) as raised:
        validate(config)
    message = str(raised.value)
    for name in (
        "MINIAPP_DATABASE__URL",
        "MINIAPP_REDIS__URL",
        "MINIAPP_SECURITY__DATA_KEY",
        "MINIAPP_SECURITY__INDEX_KEY",
        "MINIAPP_WECHAT__APP_SECRET",
        "MINIAPP_ALIPAY__APP_PRIVATE_KEY",
        "MINIAPP_ALIPAY__AES_KEY",
        "MINIAPP_CODES__SIGNING_KEYS",
    ):
        assert name in message


def test_environment_overrides_files_and_nests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_ENV", "development")
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "s3cret")
    monkeypatch.setenv("MINIAPP_SECURITY__DATA_KEY", key())
    monkeypatch.setenv("MINIAPP_SECURITY__INDEX_KEY", key())
    monkeypatch.setenv("MINIAPP_SESSION__TTL_SECONDS", "60")
    monkeypatch.setenv("MINIAPP_CODES__SIGNING_KEYS", code_signing_keys())
    config = Config(".")
    load_config(config, {"ALIPAY": {"APP_ID": ""}})
    settings = validate(config)
    assert settings.session_ttl_seconds == 60
    assert settings.wechat is not None
    assert settings.wechat.app_secret == "s3cret"
    assert settings.alipay is None
    assert "s3cret" not in repr(settings)


def test_a_short_data_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_SECURITY__DATA_KEY", base64.b64encode(b"short").decode())
    monkeypatch.setenv("MINIAPP_SECURITY__INDEX_KEY", key())
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "x")
    config = Config(".")
    load_config(config, {"ALIPAY": {"APP_ID": ""}})
    with pytest.raises(ConfigurationError, match="DATA_KEY must be base64 of 32"):
        validate(config)


def test_code_signing_keys_are_parsed_and_the_first_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_SECURITY__DATA_KEY", key())
    monkeypatch.setenv("MINIAPP_SECURITY__INDEX_KEY", key())
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "x")
    retired = base64.b64encode(secrets.token_bytes(32)).decode()
    signing = [{"kid": "new", "private_key": key()}]
    monkeypatch.setenv("MINIAPP_CODES__SIGNING_KEYS", json.dumps(signing))
    monkeypatch.setenv(
        "MINIAPP_CODES__VERIFY_KEYS", json.dumps([{"kid": "old", "public_key": retired}])
    )
    config = Config(".")
    load_config(config, {"ALIPAY": {"APP_ID": ""}})
    codes = validate(config).codes
    assert codes.signing_key.kid == "new"
    assert len(codes.signing_key.public_key) == 32
    assert [(k.kid, bool(k.private_key)) for k in codes.keys] == [("new", True), ("old", False)]


def test_malformed_code_signing_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_SECURITY__DATA_KEY", key())
    monkeypatch.setenv("MINIAPP_SECURITY__INDEX_KEY", key())
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "x")
    monkeypatch.setenv("MINIAPP_CODES__SIGNING_KEYS", '[{"kid": "k"}]')
    config = Config(".")
    load_config(config, {"ALIPAY": {"APP_ID": ""}})
    with pytest.raises(ConfigurationError, match="SIGNING_KEYS / VERIFY_KEYS must be JSON lists"):
        validate(config)


# --- a default lives once: the dataclass field, shown again (equal) in config/default.toml ----

SECTIONS: dict[str, type[Any]] = {
    "APP": settings.AppSettings,
    "DATABASE": settings.DatabaseSettings,
    "REDIS": settings.RedisSettings,
    "SESSION": settings.SessionSettings,
    "RESIDENTS": settings.ResidentSettings,
    "WECHAT": settings.WechatSettings,
    "ALIPAY": settings.AlipaySettings,
    "LOGGING": settings.LoggingSettings,
    "CODES": settings.CodeSettings,
    "LAB": settings.LabSettings,
    "RESULTS": settings.ResultSettings,
    "NOTIFY": settings.NotifySettings,
    "OVERLOAD": settings.OverloadSettings,
    "SIMULATOR": settings.SimulatorSettings,
    "SAMPLING": settings.SamplingSettings,
    "RETENTION": settings.RetentionSettings,
    "REVIEW": settings.ReviewSettings,
    "EDGE": EdgeSettings,
}


def test_default_toml_shows_the_dataclass_defaults_and_names_only_real_keys() -> None:
    with (settings.CONFIG_DIR / "default.toml").open("rb") as handle:
        shown = tomllib.load(handle)
    compared = 0
    for section, values in shown.items():
        if section == "OPS":  # operators are parsed by miniapp_api.ops.auth, not a dataclass
            continue
        defaults = {f.name: f.default for f in dataclasses.fields(SECTIONS[section])}
        for key, value in values.items():
            assert key.lower() in defaults, f"[{section}] {key} is not a setting"
            default = defaults[key.lower()]
            if default is dataclasses.MISSING:
                continue  # required: the file's value is the only default (e.g. DATABASE.URL)
            assert value == default, f"[{section}] {key}: file {value!r}, dataclass {default!r}"
            compared += 1
    assert compared >= 20


def test_what_no_layer_sets_falls_back_to_the_dataclass_default() -> None:
    config = {
        "DATABASE": {"URL": "sqlite://"},
        "REDIS": {"URL": "memory://"},
        "SECURITY": {"DATA_KEY": key(), "INDEX_KEY": key()},
        "WECHAT": {"APP_ID": "wx1", "APP_SECRET": "x"},
        "CODES": {"SIGNING_KEYS": code_signing_keys()},
        "OVERLOAD": {"USER_RATE": "7.5"},
    }
    found = validate(config)
    assert found.database_pool_size == settings.DatabaseSettings.pool_size
    assert found.session_ttl_seconds == settings.SessionSettings.ttl_seconds
    assert found.redis.socket_timeout == settings.RedisSettings.socket_timeout
    assert found.lab == settings.LabSettings()
    assert found.overload.user_rate == 7.5  # converted to the default's type
    assert found.overload.user_burst == settings.OverloadSettings.user_burst
    assert found.wechat is not None
    assert found.wechat.api_base_url == settings.WechatSettings.api_base_url


def _with_keys(monkeypatch: pytest.MonkeyPatch, data: str, index: str, **more: str) -> Config:
    monkeypatch.setenv("MINIAPP_SECURITY__DATA_KEY", data)
    monkeypatch.setenv("MINIAPP_SECURITY__INDEX_KEY", index)
    for name, value in more.items():
        monkeypatch.setenv(f"MINIAPP_SECURITY__{name}", value)
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "x")
    monkeypatch.setenv("MINIAPP_CODES__SIGNING_KEYS", code_signing_keys())
    config = Config(".")
    load_config(config, {"ALIPAY": {"APP_ID": ""}})
    return config


def test_keys_under_rotation_are_id_base64_pairs_and_the_highest_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new, index = key(), key(), key()
    loaded = validate(_with_keys(monkeypatch, f"1:{old}, 2:{new}", index))
    assert loaded.data_keys.keys == {1: base64.b64decode(old), 2: base64.b64decode(new)}
    assert loaded.data_keys.current == 2
    assert loaded.index_keys.keys == {1: base64.b64decode(index)}  # alone: key 1
    chosen = validate(_with_keys(monkeypatch, f"1:{old},2:{new}", index, DATA_KEY_ID="1"))
    assert chosen.data_keys.current == 1  # step 1 of a rollout: read 2, write 1


@pytest.mark.parametrize(
    ("data", "more", "problem"),
    [
        ("1:{k},1:{k2}", {}, "DATA_KEY names key 1 twice"),
        ("0:{k}", {}, "DATA_KEY must be one base64 key, or id:base64 pairs"),
        ("1:{k},2:c2hvcnQ=", {}, "DATA_KEY key 2 must be base64 of 32 random bytes"),
        ("1:{k}", {"DATA_KEY_ID": "3"}, "DATA_KEY_ID must be the id of one of the keys"),
    ],
)
def test_a_key_list_that_cannot_work_is_refused_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, data: str, more: dict[str, str], problem: str
) -> None:
    config = _with_keys(monkeypatch, data.format(k=key(), k2=key()), key(), **more)
    with pytest.raises(ConfigurationError, match=problem):
        validate(config)


def test_a_key_in_both_lists_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = key()
    config = _with_keys(monkeypatch, f"1:{key()},2:{shared}", shared)
    with pytest.raises(ConfigurationError, match="are the same key"):
        validate(config)
