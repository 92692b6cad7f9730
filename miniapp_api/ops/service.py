"""Run-time controls use cases: show them, change them (README, "Overload": run-time controls)."""

from __future__ import annotations

import logging

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from miniapp_api.audit import service as audit
from miniapp_api.db import utcnow
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
    client: redis.Redis,
    change: ControlsIn,
    *,
    operator: str,
    settings: OverloadSettings,
    session: Session,
    request_id: str,
) -> ControlsOut:
    """Save a new version; 409 if ``change.version`` is given and no longer current. The
    change goes into the audit trail (``audit/``) after it is saved."""
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
    _audit_change(session, operator=operator, version=saved.version, request_id=request_id)
    return _out(client, saved)


def _audit_change(session: Session, *, operator: str, version: int, request_id: str) -> None:
    # After the save, and never failing it: these controls are how operators keep the service
    # up while the database is down (cache-only mode). The log line above has the change too.
    try:
        with session.begin():
            audit.record(
                session,
                actor_kind=audit.ActorKind.OPERATOR,
                actor=operator,
                action="controls.change",
                object=f"controls:{version}",
                request_id=request_id,
                at=utcnow(),
            )
    except SQLAlchemyError as exc:
        log.error("controls version %d: audit event not recorded (%s)", version, type(exc).__name__)


def _out(client: redis.Redis, controls: Controls) -> ControlsOut:
    platforms = parse_platform_status(client.hgetall(PLATFORM_STATUS_KEY))
    return ControlsOut.of(controls, platforms)
