"""Run-time controls use cases: show them, change them (README, "Overload": run-time controls)."""

from __future__ import annotations

import logging

import redis

from miniapp_api.errors import Conflict
from miniapp_api.ops.schemas import ControlsIn, ControlsOut
from miniapp_api.overload.controls import (
    PLATFORM_STATUS_KEY,
    Controls,
    ControlsStore,
    VersionConflict,
    parse_platform_status,
)
from miniapp_api.settings import OverloadSettings

log = logging.getLogger(__name__)


def current_controls(client: redis.Redis, settings: OverloadSettings) -> ControlsOut:
    """The stored controls (the start-up settings until an operator saves) and platform status."""
    return _out(client, ControlsStore(client, settings).load())


def change_controls(
    client: redis.Redis, change: ControlsIn, *, operator: str, settings: OverloadSettings
) -> ControlsOut:
    """Save a new version; 409 if ``change.version`` is given and no longer current."""
    try:
        saved = ControlsStore(client, settings).save(
            change.limits, change.modes, operator=operator, expected_version=change.version
        )
    except VersionConflict as conflict:
        raise Conflict(
            "Someone changed the controls since you loaded them; reload and try again.",
            code="version_conflict",
            detail={"version": conflict.current.version, "updated_by": conflict.current.updated_by},
        ) from None
    modes = saved.modes
    log.info(
        "controls version %d saved by operator %s (read_only=%s cache_only=%s "
        "waiting_room_rate=%s)",
        saved.version,
        operator,
        modes.read_only,
        modes.cache_only,
        modes.waiting_room_rate,
    )
    return _out(client, saved)


def _out(client: redis.Redis, controls: Controls) -> ControlsOut:
    platforms = parse_platform_status(client.hgetall(PLATFORM_STATUS_KEY))
    return ControlsOut(**controls.model_dump(), platforms=platforms)
