"""Run-time limits and modes: one JSON document in Redis, a local copy in every worker.

Operators change the document (``PUT /api/v1/ops/limits``); each worker re-reads it at most
every ``controls_refresh_seconds`` (the read rides along in the admission pipeline, so it costs
no extra round trip), so a change reaches every worker within a second, without a restart.
Until an operator writes one, the start-up settings apply.

The same refresh brings the platforms' status (``busy`` when WeChat or Alipay throttled a login
recently, ``down`` when they did not answer), which rejections name when they point at the
other platform.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from miniapp_api.settings import OverloadSettings

CONTROLS_KEY = "overload:{ctl}:doc"
PLATFORM_STATUS_KEY = "overload:{ctl}:platforms"  # same slot as the document
Channel = Literal["wechat", "alipay", "h5", "other"]
CHANNELS: tuple[Channel, ...] = ("wechat", "alipay", "h5", "other")
# The traffic classes of miniapp_api.api.TrafficClass, as the document spells them.
ClassName = Literal["critical", "normal", "sheddable"]
CLASSES: tuple[ClassName, ...] = ("critical", "normal", "sheddable")
PlatformStatus = Literal["ok", "busy", "down"]


class Limits(BaseModel):
    """Rates in requests per second; 0 means no cap."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_rate: float = Field(ge=0, le=10_000)
    user_burst: float = Field(ge=1, le=100_000)
    # Each signed-in staff member's own quota (sampling scans, tube closes): never the address's,
    # which a whole site shares. Documents saved before it existed read the defaults.
    staff_rate: float = Field(default=2.0, ge=0, le=10_000)
    staff_burst: float = Field(default=60.0, ge=1, le=100_000)
    # What all staff of one sampling site may send together (0: no cap).
    site_rate: float = Field(default=20.0, ge=0, le=100_000)
    site_burst: float = Field(default=600.0, ge=1, le=1_000_000)
    channel_rates: dict[Channel, Annotated[float, Field(ge=0, le=10_000_000)]] = Field(
        default_factory=dict
    )
    # A cap on each class for the whole system, beside the shares below: e.g. hold history
    # (sheddable) to 200/s on a bad morning whatever else is free. Missing or 0: no cap.
    class_rates: dict[ClassName, Annotated[float, Field(ge=0, le=10_000_000)]] = Field(
        default_factory=dict
    )
    global_rate: float = Field(ge=0, le=10_000_000)
    share_normal: float = Field(gt=0, le=1)
    share_sheddable: float = Field(gt=0, le=1)


class Modes(BaseModel):
    """Degraded modes an operator can switch on (README, "Overload": run-time controls)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read_only: bool = False  # refuse writes except login and sampling (critical)
    cache_only: bool = False  # result lookups answer from the read model only
    waiting_room_rate: float = Field(default=0.0, ge=0, le=100_000)  # profile writes/s; 0 = off


class Controls(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: Limits
    modes: Modes = Modes()
    version: int = 0
    updated_by: str = ""
    updated_at: float = 0.0


def default_controls(settings: OverloadSettings) -> Controls:
    return Controls(
        limits=Limits(
            user_rate=settings.user_rate,
            user_burst=settings.user_burst,
            staff_rate=settings.staff_rate,
            staff_burst=settings.staff_burst,
            site_rate=settings.site_rate,
            site_burst=settings.site_burst,
            channel_rates={c: settings.channel_rate for c in CHANNELS}
            if settings.channel_rate > 0
            else {},
            global_rate=settings.global_rate,
            share_normal=settings.share_normal,
            share_sheddable=settings.share_sheddable,
        )
    )


class ControlsStore:
    """Reads and writes the shared document (operators' side)."""

    def __init__(self, client: redis.Redis, settings: OverloadSettings) -> None:
        self._redis = client
        self._defaults = default_controls(settings)

    def load(self) -> Controls:
        return parse_document(self._redis.get(CONTROLS_KEY), self._defaults)

    def save(
        self, limits: Limits, modes: Modes, *, operator: str, expected_version: int | None = None
    ) -> Controls:
        """Store a new version; every worker picks it up at its next refresh.

        With ``expected_version``, refuse (:class:`VersionConflict`) if another operator saved
        in between; the read and the write are one optimistic transaction (WATCH) either way,
        so two saves never both become the same version.
        """
        saved: list[Controls] = []

        def write(pipe: redis.client.Pipeline) -> None:
            current = parse_document(pipe.get(CONTROLS_KEY), self._defaults)
            if expected_version is not None and expected_version != current.version:
                raise VersionConflict(current)
            updated = Controls(
                limits=limits,
                modes=modes,
                version=current.version + 1,
                updated_by=operator,
                updated_at=time.time(),
            )
            pipe.multi()
            pipe.set(CONTROLS_KEY, updated.model_dump_json())
            saved[:] = [updated]

        self._redis.transaction(write, CONTROLS_KEY)
        return saved[0]


class VersionConflict(Exception):
    """Someone saved the controls since the version the operator started from."""

    def __init__(self, current: Controls) -> None:
        super().__init__(f"the controls are at version {current.version}")
        self.current = current


def load_modes(client: redis.Redis) -> Modes:
    """The modes as stored now, straight from Redis (for paths that must not use a stale copy)."""
    raw = client.get(CONTROLS_KEY)
    if raw is None:
        return Modes()
    try:
        return Controls.model_validate_json(raw).modes
    except ValidationError:
        return Modes()


def parse_document(raw: bytes | str | None, fallback: Controls) -> Controls:
    if raw is None:
        return fallback
    try:
        return Controls.model_validate_json(raw)
    except ValidationError:
        return fallback  # a damaged document must not take admission down


def record_platform_status(
    client: redis.Redis, platform: str, status: PlatformStatus, ttl_seconds: int = 30
) -> None:
    """Remember that a platform is throttling us (or is down) for a while; best effort."""
    until = time.time() + ttl_seconds
    client.hset(PLATFORM_STATUS_KEY, platform, json.dumps([status, until]))
    client.expire(PLATFORM_STATUS_KEY, ttl_seconds)


def parse_platform_status(raw: Mapping[bytes | str, bytes | str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    now = time.time()
    for name, value in (raw or {}).items():
        try:
            status, until = json.loads(value)
        except (ValueError, TypeError):
            continue
        if float(until) > now:
            found[name.decode() if isinstance(name, bytes) else name] = str(status)
    return found


class ControlsCache:
    """A worker's local copy; :meth:`stale` says when to re-read it (in the next pipeline)."""

    def __init__(
        self,
        defaults: Controls,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.defaults = defaults
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._controls = defaults
        self._platforms: dict[str, str] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    @property
    def current(self) -> Controls:
        return self._controls

    @property
    def platforms(self) -> dict[str, str]:
        return self._platforms

    def stale(self) -> bool:
        return self._clock() - self._fetched >= self.refresh_seconds

    def claim_refresh(self) -> bool:
        """True for the one request that should fetch now (the others keep the local copy)."""
        with self._lock:
            if not self.stale():
                return False
            self._fetched = self._clock()
            return True

    def update(
        self, raw_doc: bytes | str | None, raw_platforms: Mapping[bytes | str, bytes | str] | None
    ) -> None:
        self._controls = parse_document(raw_doc, self.defaults)
        self._platforms = parse_platform_status(raw_platforms)
