"""Configuration: TOML layers, MINIAPP_* environment, overrides; validated into frozen settings."""

from __future__ import annotations

import base64
import binascii
import json
import os
import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
ENV_PREFIX = "MINIAPP"


class ConfigurationError(RuntimeError):
    """Start-up refused: the message lists every missing or invalid setting."""


@dataclass(frozen=True)
class RedisSettings:
    url: str
    socket_timeout: float
    connect_timeout: float

    @property
    def embedded(self) -> bool:
        return self.url.startswith("memory://")


@dataclass(frozen=True)
class WechatSettings:
    app_id: str
    app_secret: str = ""
    api_base_url: str = "https://api.weixin.qq.com"
    timeout: float = 3.0


@dataclass(frozen=True)
class AlipaySettings:
    app_id: str
    app_private_key: str = ""
    alipay_public_key: str = ""
    aes_key: str = ""
    gateway_url: str = "https://openapi.alipay.com/gateway.do"
    timeout: float = 3.0


@dataclass(frozen=True)
class ResidentSettings:
    max_dependents: int = 6
    guardian_consent_under_age: int = 14


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key of the registration codes; ``private_key`` is empty for verify-only keys."""

    kid: str
    public_key: bytes  # raw 32 bytes
    private_key: bytes = field(default=b"", repr=False)  # raw 32 bytes


@dataclass(frozen=True)
class CodeSettings:
    ttl_days: int = 30
    # The first key signs new codes; all are published in the JWKS, so codes signed by a
    # retired key stay valid in people's photo albums until they expire.
    keys: tuple[SigningKey, ...] = ()

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[0]


@dataclass(frozen=True)
class LabSettings:
    max_batch: int = 1000
    timestamp_tolerance_seconds: int = 300
    nonce_ttl_seconds: int = 900


@dataclass(frozen=True)
class ResultSettings:
    overdue_hours: int = 48


@dataclass(frozen=True)
class NotifySettings:
    wechat_template_id: str = ""
    alipay_template_id: str = ""
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    batch_size: int = 100


@dataclass(frozen=True)
class OverloadSettings:
    """Admission control (DESIGN §7). Rates are requests per second; 0 means no cap.

    These are the start-up defaults; operators change limits and modes at run time through
    ``PUT /api/v1/ops/limits`` (kept in Redis, seen by every worker within a second).
    """

    enabled: bool = True
    user_rate: float = 5.0  # per session, or per client address before login
    user_burst: float = 20.0
    channel_rate: float = 0.0  # per channel (wechat, alipay, h5)
    global_rate: float = 0.0  # the whole system
    burst_seconds: float = 1.0  # channel and global buckets hold this many seconds of rate
    shards: int = 8  # the channel and global budgets are split over this many keys
    # Share of each bucket's burst a class may use: lower classes are refused first.
    share_normal: float = 0.8
    share_sheddable: float = 0.5
    # Per worker: critical requests admitted while Redis is unreachable, per second.
    fail_open_rate: float = 50.0
    breaker_seconds: float = 1.0  # after a Redis failure, decide locally this long
    # The adaptive in-flight limit per worker process.
    concurrency_initial: int = 16
    concurrency_min: int = 8  # never fewer: below this, refusals at normal load (bench)
    concurrency_max: int = 64
    controls_refresh_seconds: float = 0.5


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start, checked. Secrets are excluded from ``repr``."""

    env: str
    public_base_url: str
    database_url: str
    database_pool_size: int
    redis: RedisSettings
    session_ttl_seconds: int
    residents: ResidentSettings
    wechat: WechatSettings | None
    alipay: AlipaySettings | None
    log_level: str
    timezone: str
    codes: CodeSettings = CodeSettings()
    lab: LabSettings = LabSettings()
    results: ResultSettings = ResultSettings()
    notify: NotifySettings = NotifySettings()
    overload: OverloadSettings = OverloadSettings()
    simulator_emulator_url: str = ""  # set only where the simulator page may be served
    data_key: bytes = b""
    index_key: bytes = b""
    # Load balancers in front of us that append to X-Forwarded-For; per-address limits need
    # the client's address, not the balancer's. 0 trusts no header (direct exposure).
    trusted_proxies: int = 0

    def __repr__(self) -> str:
        return f"Settings(env={self.env!r}, database_url=<set>, redis={self.redis.url!r})"


def load_config(config: Config, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill a Flask ``Config`` from the layers, lowest first."""
    env = os.environ.get(f"{ENV_PREFIX}_ENV", "development")
    _deep_merge(config, _read_toml(CONFIG_DIR / "default.toml"))
    env_file = CONFIG_DIR / f"{env}.toml"
    if env_file.exists():
        _deep_merge(config, _read_toml(env_file))
    config["ENV_NAME"] = env
    config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        _deep_merge(config, dict(overrides))


def validate(config: Mapping[str, Any]) -> Settings:
    """Turn the merged config into :class:`Settings` or raise naming everything that is wrong."""
    problems: list[str] = []

    def section(name: str) -> Mapping[str, Any]:
        value = config.get(name, {})
        return value if isinstance(value, Mapping) else {}

    def required(sect: str, key: str) -> str:
        value = section(sect).get(key)
        if value in (None, ""):
            problems.append(f"{ENV_PREFIX}_{sect}__{key} is missing")
            return ""
        return str(value)

    def key_bytes(key: str) -> bytes:
        raw = required("SECURITY", key)
        if not raw:
            return b""
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            problems.append(f"{ENV_PREFIX}_SECURITY__{key} must be base64 of 32 random bytes")
        return decoded

    redis_cfg = section("REDIS")
    settings = Settings(
        env=str(config.get("ENV_NAME", "development")),
        public_base_url=str(section("APP").get("PUBLIC_BASE_URL", "")).rstrip("/"),
        database_url=required("DATABASE", "URL"),
        database_pool_size=int(section("DATABASE").get("POOL_SIZE", 10)),
        redis=RedisSettings(
            url=required("REDIS", "URL"),
            socket_timeout=float(redis_cfg.get("SOCKET_TIMEOUT", 0.25)),
            connect_timeout=float(redis_cfg.get("CONNECT_TIMEOUT", 0.25)),
        ),
        session_ttl_seconds=int(section("SESSION").get("TTL_SECONDS", 604800)),
        residents=ResidentSettings(
            max_dependents=int(section("RESIDENTS").get("MAX_DEPENDENTS", 6)),
            guardian_consent_under_age=int(
                section("RESIDENTS").get("GUARDIAN_CONSENT_UNDER_AGE", 14)
            ),
        ),
        wechat=_wechat(section("WECHAT"), required),
        alipay=_alipay(section("ALIPAY"), required),
        log_level=str(section("LOGGING").get("LEVEL", "INFO")).upper(),
        timezone=str(section("APP").get("TIMEZONE", "Asia/Shanghai")),
        trusted_proxies=int(section("APP").get("TRUSTED_PROXIES", 0)),
        codes=CodeSettings(
            ttl_days=int(section("CODES").get("TTL_DAYS", 30)),
            keys=_signing_keys(section("CODES"), problems),
        ),
        lab=LabSettings(
            max_batch=int(section("LAB").get("MAX_BATCH", 1000)),
            timestamp_tolerance_seconds=int(section("LAB").get("TIMESTAMP_TOLERANCE_SECONDS", 300)),
            nonce_ttl_seconds=int(section("LAB").get("NONCE_TTL_SECONDS", 900)),
        ),
        results=ResultSettings(overdue_hours=int(section("RESULTS").get("OVERDUE_HOURS", 48))),
        notify=NotifySettings(
            wechat_template_id=str(section("NOTIFY").get("WECHAT_TEMPLATE_ID", "")),
            alipay_template_id=str(section("NOTIFY").get("ALIPAY_TEMPLATE_ID", "")),
            max_attempts=int(section("NOTIFY").get("MAX_ATTEMPTS", 8)),
            backoff_base_seconds=float(section("NOTIFY").get("BACKOFF_BASE_SECONDS", 2.0)),
            batch_size=int(section("NOTIFY").get("BATCH_SIZE", 100)),
        ),
        overload=_overload(section("OVERLOAD")),
        simulator_emulator_url=str(section("SIMULATOR").get("EMULATOR_URL", "")).rstrip("/"),
        data_key=key_bytes("DATA_KEY"),
        index_key=key_bytes("INDEX_KEY"),
    )
    if settings.wechat is None and settings.alipay is None:
        problems.append(f"set {ENV_PREFIX}_WECHAT__APP_ID or {ENV_PREFIX}_ALIPAY__APP_ID")
    if problems:
        raise ConfigurationError("configuration is incomplete:\n  - " + "\n  - ".join(problems))
    return settings


def _overload(cfg: Mapping[str, Any]) -> OverloadSettings:
    defaults = OverloadSettings()
    values: dict[str, Any] = {}
    for name, default in vars(defaults).items():
        raw = cfg.get(name.upper(), default)
        values[name] = _flag(raw) if isinstance(default, bool) else type(default)(raw)
    return OverloadSettings(**values)


def _flag(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(raw)


def _signing_keys(cfg: Mapping[str, Any], problems: list[str]) -> tuple[SigningKey, ...]:
    """``SIGNING_KEYS``: JSON list of ``{"kid", "private_key"}`` (base64 of the raw 32-byte
    Ed25519 seed), the first signing; ``VERIFY_KEYS``: ``{"kid", "public_key"}`` of retired keys.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    name = f"{ENV_PREFIX}_CODES__SIGNING_KEYS"
    keys: list[SigningKey] = []
    try:
        signing = _json_list(cfg.get("SIGNING_KEYS"))
        verify_only = _json_list(cfg.get("VERIFY_KEYS"))
        for entry in signing:
            seed = base64.b64decode(entry["private_key"], validate=True)
            public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
            raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
            keys.append(SigningKey(str(entry["kid"]), raw, seed))
        for entry in verify_only:
            keys.append(SigningKey(str(entry["kid"]), base64.b64decode(entry["public_key"])))
    except (ValueError, KeyError, TypeError, binascii.Error):
        problems.append(f"{name} / VERIFY_KEYS must be JSON lists of keys (see .env.example)")
        return ()
    if not signing:
        problems.append(f"{name} is missing")
    if len({k.kid for k in keys}) != len(keys):
        problems.append(f"{name}: key ids (kid) must be unique")
    if any(not 1 <= len(k.kid) <= 4 for k in keys):
        # The token must fit a version 10 QR symbol (miniapp_api/codes/tokens.py).
        problems.append(f"{name}: key ids (kid) must be 1 to 4 characters")
    return tuple(keys)


def _json_list(value: Any) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    found = json.loads(value) if isinstance(value, str) else value
    if not isinstance(found, list):
        raise ValueError("not a list")
    return found


def _wechat(cfg: Mapping[str, Any], required: Any) -> WechatSettings | None:
    if not cfg.get("APP_ID"):
        return None
    return WechatSettings(
        app_id=str(cfg["APP_ID"]),
        app_secret=required("WECHAT", "APP_SECRET"),
        api_base_url=str(cfg.get("API_BASE_URL", "https://api.weixin.qq.com")).rstrip("/"),
        timeout=float(cfg.get("TIMEOUT", 3.0)),
    )


def _alipay(cfg: Mapping[str, Any], required: Any) -> AlipaySettings | None:
    if not cfg.get("APP_ID"):
        return None
    return AlipaySettings(
        app_id=str(cfg["APP_ID"]),
        app_private_key=required("ALIPAY", "APP_PRIVATE_KEY"),
        alipay_public_key=required("ALIPAY", "ALIPAY_PUBLIC_KEY"),
        aes_key=required("ALIPAY", "AES_KEY"),
        gateway_url=str(cfg.get("GATEWAY_URL", "https://openapi.alipay.com/gateway.do")),
        timeout=float(cfg.get("TIMEOUT", 3.0)),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _deep_merge(target: MutableMapping[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, MutableMapping):
            _deep_merge(current, value)
        elif isinstance(value, Mapping):
            target[key] = dict(value)
        else:
            target[key] = value
