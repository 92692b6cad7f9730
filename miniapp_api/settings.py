"""Configuration: TOML layers, MINIAPP_* environment, overrides; validated into frozen settings.

A default lives once: as the field's default in the dataclasses below. ``config/default.toml``
shows the same values to operators (``tests/unit/test_settings.py`` keeps the two equal), and
nothing else repeats them: :func:`validate` falls back to the dataclass defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tomllib
import urllib.parse
from collections.abc import Mapping, MutableMapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from flask import Config

KEY_BYTES = 32
LEGACY_KEY_ID = 1  # the id of a key configured alone, without one

ENV_PREFIX = "MINIAPP"
# The checkout this module was imported from: in a clone or an editable install it holds config/
# and templates/; after `pip install .` it is site-packages, which holds neither (see home()).
SOURCE_TREE = Path(__file__).resolve().parent.parent
# The checkout's config/, for tests and tools; the app reads config_dir().
CONFIG_DIR = SOURCE_TREE / "config"
ENV_FILE_VARIABLE = f"{ENV_PREFIX}_ENV_FILE"


class ConfigurationError(RuntimeError):
    """Start-up refused: the message lists every missing or invalid setting."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    # Per worker process, plus as many overflow connections: one per gunicorn thread (16).
    pool_size: int = 16
    # The most of PostgreSQL's max_connections one app node may take before the start-up
    # sizing check warns (miniapp_api/ops/sizing.py).
    max_connections_share: float = 0.5


@dataclass(frozen=True)
class RedisSettings:
    url: str = field(repr=False)  # may hold a password (redis://user:password@host)
    socket_timeout: float = 0.25
    connect_timeout: float = 0.25

    @property
    def embedded(self) -> bool:
        return self.url.startswith("memory://")


@dataclass(frozen=True)
class WechatSettings:
    app_id: str
    app_secret: str = field(default="", repr=False)
    api_base_url: str = "https://api.weixin.qq.com"
    timeout: float = 3.0


@dataclass(frozen=True)
class AlipaySettings:
    app_id: str
    app_private_key: str = field(default="", repr=False)
    alipay_public_key: str = ""
    aes_key: str = field(default="", repr=False)
    gateway_url: str = "https://openapi.alipay.com/gateway.do"
    timeout: float = 3.0


@dataclass(frozen=True)
class ResidentSettings:
    max_dependents: int = 6
    guardian_consent_under_age: int = 14
    # Who someone else may hold (the city's proxy rule): under this age, or this age and over,
    # or declared unable to apply themselves.
    proxy_minor_under_age: int = 18
    proxy_elderly_from_age: int = 60
    # A request to hold an existing record lapses after this many days without an answer.
    link_request_days: int = 7


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
class SamplingSettings:
    """``[SAMPLING]``: what the scans of the sampling sites are held to."""

    # A scan dated (by the device) this long before it reaches us, or before its round opened,
    # is refused (``stale_scan``): an old time would bind codes revoked or expired since. Long
    # enough for an app that was offline for a morning.
    scan_window_hours: int = 12


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
    # The second template of each platform: notices about an account's family links
    # (notify/notices.py). Empty: notices are not pushed there (marked ``skipped``).
    wechat_notice_template_id: str = ""
    alipay_notice_template_id: str = ""
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    batch_size: int = 100
    # WeChat: which build of the mini-program a message opens (``miniprogram_state`` of
    # subscribeMessage.send): formal (released), trial or developer. Production allows all
    # three: a trial deployment pushes to testers' trial builds.
    miniprogram_state: str = "formal"


MINIPROGRAM_STATES = ("formal", "trial", "developer")


@dataclass(frozen=True)
class OverloadSettings:
    """Admission control (README, "Overload"). Rates are requests per second; 0 means no cap.

    These are the start-up defaults; operators change limits and modes at run time through
    ``PUT /api/v1/ops/limits`` (kept in Redis, seen by every worker within a second).
    """

    enabled: bool = True
    user_rate: float = 5.0  # per resident account, or per client address (IPv6: /64) before
    user_burst: float = 20.0  # login
    staff_rate: float = 2.0  # per signed-in staff member (a scan every few seconds, and the
    staff_burst: float = 60.0  # replay of an offline queue)
    # All staff of one sampling site together: ten members at their full quota, and a minute
    # of offline queues replayed at once.
    site_rate: float = 20.0
    site_burst: float = 600.0
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
class AppSettings:
    """``[APP]``: where residents reach us, the process zone, the proxies in front of us."""

    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Shanghai"
    # Load balancers in front of us that append to X-Forwarded-For; per-address limits need
    # the client's address, not the balancer's. 0 trusts no header (direct exposure).
    trusted_proxies: int = 0
    # The largest request body any route reads (Flask's MAX_CONTENT_LENGTH); routes that take
    # batches (lab results, sampling scans) set their own, larger limits.
    max_body_bytes: int = 65536


@dataclass(frozen=True)
class SessionSettings:
    ttl_seconds: int = 604800  # a week: sessions outlive a throttled morning


@dataclass(frozen=True)
class LoggingSettings:
    """``[LOGGING]``: the root level, and whether answered health probes are logged."""

    level: str = "INFO"
    # Access lines of /healthz, /readyz and /metrics answered below 400: HAProxy's checks and
    # Prometheus's scrapes would be most of the log. Failed probes are always logged.
    probes: bool = False


@dataclass(frozen=True)
class ReviewSettings:
    """``[REVIEW]``: the platforms' review teams log in to a sandbox of synthetic people
    (``miniapp_api/review``). Off: the review route answers 404. The reviewer accounts,
    ``ACCOUNTS``, are read by ``miniapp_api/review/views.py`` (as operators are by ops)."""

    enabled: bool = False


@dataclass(frozen=True)
class RetentionSettings:
    """``[RETENTION]``: how long each kind of record is kept before ``miniapp retention purge``
    deletes it (``miniapp_api/retention``), in whole days (at least 1) after the moment named
    beside it; and how the worker schedules that purge."""

    # After the test: tube results, their amendments, the person results of the tube and
    # those people's samplings (a sampling without its result would read as "pending"). Also,
    # after the scan: staff scan receipts (what a re-sent scan is answered: a masked name and
    # the ID's last four), kept as long as the results they led to.
    results_days: int = 180
    # After the scan: samplings that never got a result (a lost or untested tube).
    samplings_days: int = 180
    audit_days: int = 1095  # after the event: audit records (three years)
    expired_codes_days: int = 30  # after expiry or revocation: registration codes
    outbox_days: int = 7  # after queueing, once sent or given up: push outbox rows
    notices_days: int = 90  # after the notice, once pushed (or not to be): family-link notices
    # After the request: labs' idempotency records (Idempotency-Key, body hash, the answer);
    # a lab retries within minutes, so a month is generous. Nothing personal: only growth.
    lab_requests_days: int = 30
    batch_size: int = 5000  # rows per transaction: short locks, resumable
    # After each batch, wait this many times as long as the batch took: the purge leaves
    # most of the database to the service (1.0: half the time; 0: purge flat out).
    pause_factor: float = 1.0
    # `miniapp worker` purges this often (one node at a time, under a Redis lock); 0: never
    # (run `miniapp retention purge` from cron instead).
    schedule_minutes: int = 60


@dataclass(frozen=True)
class SimulatorSettings:
    emulator_url: str = ""  # set only where the simulator page may be served


@dataclass(frozen=True)
class OpsSettings:
    """``[OPS]`` for the console; its ``OPERATORS`` are parsed by ``miniapp_api.ops.auth``."""

    # HAProxy's Prometheus exporter (its stats port's /metrics), read by the app for the
    # console's edge panel (the browser cannot reach that internal port). Empty: no panel.
    edge_metrics_url: str = ""
    # gunicorn's second listener ("127.0.0.1:9100"), where /metrics, /readyz and
    # /openapi.json answer without a token (miniapp_api/ops/internal.py). Empty: none.
    internal_bind: str = ""
    # /openapi.json for anyone: the embedded default's front-end developers. Never production.
    public_docs: bool = False

    @property
    def internal_port(self) -> str | None:
        """The port of :attr:`internal_bind` as WSGI's ``SERVER_PORT`` spells it, or ``None``."""
        return self.internal_bind.rpartition(":")[2] or None


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start, checked. Secrets are excluded from ``repr``.

    Built only by :func:`validate`, so no field has a default here: the defaults are those of
    the section dataclasses above.
    """

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
    log_probes: bool  # [LOGGING] PROBES: access lines of answered health probes too
    timezone: str
    trusted_proxies: int
    max_body_bytes: int
    codes: CodeSettings
    sampling: SamplingSettings
    lab: LabSettings
    results: ResultSettings
    notify: NotifySettings
    overload: OverloadSettings
    ops: OpsSettings
    review: ReviewSettings
    retention: RetentionSettings
    simulator_emulator_url: str
    data_keys: KeyRing = field(repr=False)
    index_keys: KeyRing = field(repr=False)

    def __repr__(self) -> str:
        return f"Settings(env={self.env!r}, database_url=<set>, redis_url=<set>)"


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, and the id of the key new values are written with."""

    keys: Mapping[int, bytes]
    current: int

    def __post_init__(self) -> None:
        if not self.keys and self.current == 0:
            return  # UNSET_KEYS
        if self.current not in self.keys:
            raise ValueError(f"key {self.current} is to write but is not among the keys")
        for key_id, key in self.keys.items():
            if not 1 <= key_id <= 255:
                raise ValueError(f"key ids are 1 to 255, not {key_id}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id} must be {KEY_BYTES} bytes")

    @classmethod
    def single(cls, key: bytes) -> KeyRing:
        """One key, id 1: the configuration before any rotation."""
        return cls({LEGACY_KEY_ID: key}, LEGACY_KEY_ID)

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]

    def others(self) -> list[int]:
        """The ids of the keys kept only to read, newest first."""
        return sorted((k for k in self.keys if k != self.current), reverse=True)


# What an unset or unusable key setting leaves while the problems are gathered (the load then
# fails with all of them): never used.
_UNSET_KEYS = KeyRing({}, 0)


def _parse_keys(raw: str) -> dict[int, bytes] | str:
    """``base64`` or ``id:base64,id:base64``: the keys by id, or what is wrong (a phrase)."""
    if not raw.strip():
        return {}
    entries = [entry.strip() for entry in raw.split(",")]
    if len(entries) == 1 and ":" not in entries[0]:
        alone = _decoded_key(entries[0])
        return {LEGACY_KEY_ID: alone} if alone else f"must be base64 of {KEY_BYTES} random bytes"
    keys: dict[int, bytes] = {}
    for entry in entries:
        key_id, _, encoded = entry.partition(":")
        if not key_id.isdigit() or not 1 <= int(key_id) <= 255:
            return "must be one base64 key, or id:base64 pairs (ids 1 to 255) joined by commas"
        if int(key_id) in keys:
            return f"names key {int(key_id)} twice"
        decoded = _decoded_key(encoded)
        if decoded is None:
            return f"key {int(key_id)} must be base64 of {KEY_BYTES} random bytes"
        keys[int(key_id)] = decoded
    return keys


def _decoded_key(encoded: str) -> bytes | None:
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == KEY_BYTES else None


def home() -> Path:
    """The release directory the app reads ``config/`` and ``templates/`` from.

    ``MINIAPP_HOME`` if set; else the checkout this package was imported from (a clone, an
    editable install); else the working directory: a ``pip install .`` is started from the
    release directory, as gunicorn is (``wsgi.py`` and ``config/gunicorn.conf.py`` are there).
    The wheel carries the code only: one copy of the pages and settings, the release's.
    """
    given = os.environ.get(f"{ENV_PREFIX}_HOME")
    if given:
        return Path(given).resolve()
    if (SOURCE_TREE / "config" / "default.toml").is_file():
        return SOURCE_TREE
    return Path.cwd()


def config_dir() -> Path:
    """``config/`` of :func:`home`: the TOML layers, gunicorn's and HAProxy's files."""
    return home() / "config"


def templates_dir() -> Path:
    """``templates/`` of :func:`home`: the pages the app renders or serves."""
    return home() / "templates"


# Variables an env file set in this process, with the value it gave: told apart from the real
# environment when the file is read again (gunicorn reads its config anew on a HUP).
_FROM_ENV_FILE: dict[str, str] = {}


def load_env_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Set variables from an env file (python-dotenv's syntax), never over the real environment.

    The file: ``path`` (``miniapp --env-file``), else ``$MINIAPP_ENV_FILE``, else ``.env`` in
    the working directory when there is one. A file named but missing is a
    :class:`ConfigurationError`. Read again, the file's new values replace the ones it gave
    before and variables taken out of it are unset. Returns the file read, or ``None``.
    """
    from dotenv import dotenv_values

    named = path or os.environ.get(ENV_FILE_VARIABLE)
    chosen = Path(named) if named else Path(".env")
    if not chosen.is_file():
        if named:
            raise ConfigurationError(f"env file {named} not found")
        return None
    given = {
        key: value
        for key, value in dotenv_values(chosen, encoding="utf-8").items()
        if value is not None
    }
    for key in [key for key in _FROM_ENV_FILE if key not in given]:
        if os.environ.get(key) == _FROM_ENV_FILE.pop(key):
            del os.environ[key]
    for key, value in given.items():
        ours = key in _FROM_ENV_FILE and os.environ.get(key) == _FROM_ENV_FILE[key]
        if key not in os.environ or ours:
            os.environ[key] = _FROM_ENV_FILE[key] = value
    return chosen


def load_config(config: Config, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill a Flask ``Config`` from the layers, lowest first."""
    env = os.environ.get(f"{ENV_PREFIX}_ENV", "development")
    layers = config_dir()
    if not (layers / "default.toml").is_file():
        raise ConfigurationError(
            f"{layers / 'default.toml'} not found: start from the release directory (the one "
            f"with config/ and templates/) or set {ENV_PREFIX}_HOME to it"
        )
    _deep_merge(config, _read_toml(layers / "default.toml"))
    env_file = layers / f"{env}.toml"
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

    def key_ring(key: str) -> KeyRing:
        """``[SECURITY] <key>``: one base64 key (id 1), or ``id:base64`` pairs separated by
        commas while a rotation is under way; ``<key>_ID`` names the one to write with
        (default: the highest id)."""
        name = f"{ENV_PREFIX}_SECURITY__{key}"
        parsed = _parse_keys(required("SECURITY", key))
        if isinstance(parsed, str):
            problems.append(f"{name} {parsed}")
            return _UNSET_KEYS
        if not parsed:
            return _UNSET_KEYS
        chosen = str(section("SECURITY").get(f"{key}_ID", "") or "").strip()
        if not chosen:
            return KeyRing(parsed, max(parsed))
        if not chosen.isdigit() or int(chosen) not in parsed:
            problems.append(f"{name}_ID must be the id of one of the keys in {name}")
            return _UNSET_KEYS
        return KeyRing(parsed, int(chosen))

    app_cfg = section("APP")
    logs = from_section(LoggingSettings, section("LOGGING"))
    app = from_section(AppSettings, app_cfg)
    database = from_section(DatabaseSettings, section("DATABASE"), url=required("DATABASE", "URL"))
    sessions = from_section(SessionSettings, section("SESSION"))
    simulator = from_section(SimulatorSettings, section("SIMULATOR"))
    ops = from_section(OpsSettings, section("OPS"))
    if ops.edge_metrics_url and not _http_url(ops.edge_metrics_url):
        problems.append(
            f"{ENV_PREFIX}_OPS__EDGE_METRICS_URL must be an http(s) URL (HAProxy's stats "
            "port, e.g. http://10.0.0.1:8404/metrics) or empty"
        )
    if ops.internal_bind and not _host_port(ops.internal_bind):
        problems.append(
            f"{ENV_PREFIX}_OPS__INTERNAL_BIND must be host:port (e.g. 127.0.0.1:9100) or empty"
        )
    codes = section("CODES")
    sampling = from_section(SamplingSettings, section("SAMPLING"))
    if sampling.scan_window_hours < 1:
        problems.append(f"{ENV_PREFIX}_SAMPLING__SCAN_WINDOW_HOURS must be at least 1")
    notify = from_section(NotifySettings, section("NOTIFY"))
    if notify.miniprogram_state not in MINIPROGRAM_STATES:
        problems.append(
            f"{ENV_PREFIX}_NOTIFY__MINIPROGRAM_STATE must be one of {', '.join(MINIPROGRAM_STATES)}"
        )
    if not 0 < database.max_connections_share <= 1:
        problems.append(
            f"{ENV_PREFIX}_DATABASE__MAX_CONNECTIONS_SHARE must be above 0 and at most 1"
        )
    settings = Settings(
        env=str(config.get("ENV_NAME", "development")),
        public_base_url=app.public_base_url.rstrip("/"),
        database_url=database.url,
        database_pool_size=database.pool_size,
        redis=from_section(RedisSettings, section("REDIS"), url=required("REDIS", "URL")),
        session_ttl_seconds=sessions.ttl_seconds,
        residents=from_section(ResidentSettings, section("RESIDENTS")),
        wechat=_wechat(section("WECHAT"), required),
        alipay=_alipay(section("ALIPAY"), required),
        log_level=logs.level.upper(),
        log_probes=logs.probes,
        timezone=app.timezone,
        trusted_proxies=app.trusted_proxies,
        max_body_bytes=app.max_body_bytes,
        codes=from_section(CodeSettings, codes, keys=_signing_keys(codes, problems)),
        sampling=sampling,
        lab=from_section(LabSettings, section("LAB")),
        results=from_section(ResultSettings, section("RESULTS")),
        notify=notify,
        overload=from_section(OverloadSettings, section("OVERLOAD")),
        ops=ops,
        review=from_section(ReviewSettings, section("REVIEW")),
        retention=from_section(RetentionSettings, section("RETENTION")),
        simulator_emulator_url=simulator.emulator_url.rstrip("/"),
        data_keys=key_ring("DATA_KEY"),
        index_keys=key_ring("INDEX_KEY"),
    )
    if settings.wechat is None and settings.alipay is None:
        problems.append(f"set {ENV_PREFIX}_WECHAT__APP_ID or {ENV_PREFIX}_ALIPAY__APP_ID")
    if set(settings.data_keys.keys.values()) & set(settings.index_keys.keys.values()):
        problems.append(
            f"{ENV_PREFIX}_SECURITY__DATA_KEY and {ENV_PREFIX}_SECURITY__INDEX_KEY are the same "
            "key (or share one): generate a key for each"
        )
    if settings.env == "production":
        problems += production_problems(
            settings, given_trusted_proxies="TRUSTED_PROXIES" in app_cfg
        )
    if problems:
        raise ConfigurationError("configuration is incomplete:\n  - " + "\n  - ".join(problems))
    return settings


T = TypeVar("T")


def from_section(cls: type[T], cfg: Mapping[str, Any], **given: Any) -> T:
    """A settings dataclass from its TOML section: each field from its upper-case key, else
    the field's default, converted to the default's type; ``given`` fields as they are."""
    values: dict[str, Any] = dict(given)
    for spec in fields(cls):  # type: ignore[arg-type]
        if spec.name in given or spec.default is MISSING:
            continue
        default = spec.default
        raw = cfg.get(spec.name.upper(), default)
        values[spec.name] = _flag(raw) if isinstance(default, bool) else type(default)(raw)
    return cls(**values)


# The platforms' own hosts. In production anything else (the emulator, a proxy nobody vetted,
# a typo) would receive our app secrets and residents' login codes.
OFFICIAL_HOSTS = {
    "WECHAT__API_BASE_URL": frozenset({"api.weixin.qq.com"}),
    "ALIPAY__GATEWAY_URL": frozenset({"openapi.alipay.com"}),
}


def production_problems(settings: Settings, *, given_trusted_proxies: bool) -> list[str]:
    """What ``MINIAPP_ENV=production`` refuses to start with: the development values.

    ``staging`` (production-shaped, with the emulator: benchmarks, rehearsals) is not checked.
    """
    found: list[str] = []
    if settings.database_url.startswith("sqlite"):
        found.append(f"{ENV_PREFIX}_DATABASE__URL is SQLite: production runs on PostgreSQL")
    if settings.redis.embedded:
        found.append(
            f"{ENV_PREFIX}_REDIS__URL is memory:// (one process's stand-in): set a Redis URL"
        )
    platform_urls = {
        "WECHAT__API_BASE_URL": settings.wechat.api_base_url if settings.wechat else None,
        "ALIPAY__GATEWAY_URL": settings.alipay.gateway_url if settings.alipay else None,
    }
    for name, url in platform_urls.items():
        if url is None:
            continue
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or parts.hostname not in OFFICIAL_HOSTS[name]:
            official = ", ".join(sorted(OFFICIAL_HOSTS[name]))
            found.append(f"{ENV_PREFIX}_{name} must be https://{official} (the platform's own)")
    if settings.simulator_emulator_url:
        found.append(
            f"{ENV_PREFIX}_SIMULATOR__EMULATOR_URL is set: the simulator page is for development"
        )
    if not settings.public_base_url.startswith("https://"):
        found.append(f"{ENV_PREFIX}_APP__PUBLIC_BASE_URL must be https:// (residents' links)")
    if settings.ops.public_docs:
        found.append(
            f"{ENV_PREFIX}_OPS__PUBLIC_DOCS is on: /openapi.json is for operators and the "
            "internal bind in production (`miniapp openapi` prints it)"
        )
    if not given_trusted_proxies:
        found.append(
            f"set {ENV_PREFIX}_APP__TRUSTED_PROXIES: how many load balancers in front append to "
            "X-Forwarded-For (0 if clients connect directly); per-address limits count that "
            "address"
        )
    return found


def _http_url(value: str) -> bool:
    """An http(s) URL with a host and, if it names one, a valid port."""
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # ValueError when not a number from 0 to 65535
    except ValueError:
        return False
    hosted = bool(parts.hostname) and port != 0 and not any(c.isspace() for c in value)
    return parts.scheme in ("http", "https") and hosted


def _host_port(value: str) -> bool:
    """``host:port`` with a host and a port from 1 to 65535 (``[::1]:9100`` for IPv6)."""
    host, _, port = value.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


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
    found = from_section(
        WechatSettings,
        cfg,
        app_id=str(cfg["APP_ID"]),
        app_secret=required("WECHAT", "APP_SECRET"),
    )
    return replace(found, api_base_url=found.api_base_url.rstrip("/"))


def _alipay(cfg: Mapping[str, Any], required: Any) -> AlipaySettings | None:
    if not cfg.get("APP_ID"):
        return None
    return from_section(
        AlipaySettings,
        cfg,
        app_id=str(cfg["APP_ID"]),
        app_private_key=required("ALIPAY", "APP_PRIVATE_KEY"),
        alipay_public_key=required("ALIPAY", "ALIPAY_PUBLIC_KEY"),
        aes_key=required("ALIPAY", "AES_KEY"),
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
