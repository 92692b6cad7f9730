"""Bodies of the run-time controls API: the limits and modes of ``overload.controls``."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.clock import UtcDateTime
from miniapp_api.overload.controls import Controls, Limits, Modes


class ControlsIn(BaseModel):
    """A whole new set of limits and modes (``PUT`` replaces; send what ``GET`` showed)."""

    model_config = ConfigDict(extra="forbid")

    limits: Limits
    modes: Modes
    # The version the operator started from: if someone saved since, 409 instead of
    # silently undoing their change. Leave it out to overwrite whatever is there.
    version: int | None = Field(default=None, ge=0)


class ControlsOut(BaseModel):
    """The controls every worker applies (within a second of a change), and the platforms'
    status as the workers see it (``busy`` or ``down`` for a while after a throttled login)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: Limits
    modes: Modes
    version: int
    updated_by: str = Field(description="the operator who saved them; empty: start-up settings")
    # The shared document keeps Unix time (overload/controls.py); the API shows RFC 3339.
    updated_at: UtcDateTime | None = Field(description="null: never saved, start-up settings")
    platforms: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, controls: Controls, platforms: dict[str, str]) -> ControlsOut:
        saved = controls.updated_at
        return cls(
            limits=controls.limits,
            modes=controls.modes,
            version=controls.version,
            updated_by=controls.updated_by,
            updated_at=datetime.fromtimestamp(saved, UTC) if saved else None,
            platforms=platforms,
        )


# --- the front door, as HAProxy counts it (GET /api/v1/ops/edge) ----------------------------


class EdgeNode(BaseModel):
    """One app node (an HAProxy ``server``) as the edge sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: str  # HAProxy's: UP, DOWN, MAINT, DRAIN, NOLB ("" when it says none)
    check: str  # the last health check: L7OK, L4CON (refused), L7STS (wrong status), ...
    sessions: int  # requests it serves now
    limit: int | None  # what it serves at once (its maxconn); the rest waits in the queue


class EdgeBackend(BaseModel):
    """A group of app nodes and the queue in front of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    queue: int  # requests waiting for a free slot now
    queue_max: int  # the most that waited at once since HAProxy started
    slots: int  # the nodes' limits added up; the edge refuses by queue length in these units
    nodes: list[EdgeNode]


class EdgeRefusals(BaseModel):
    """Requests the edge answered itself, totals since HAProxy (re)started: the console turns
    them into rates as Prometheus's ``rate()`` would."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_full: int  # 503 on arrival: too many already wait for the request's class
    queue_timeout: int  # 503 after `timeout queue` in the queue, or with no node up
    quota: int  # 429: over the per-user quota (the abuse limits)
    node_failed: int  # 502/504: a node died or did not answer in time (not a refusal)


class EdgeOut(BaseModel):
    """The front door for the console: ``configured`` false when ``OPS.EDGE_METRICS_URL`` is
    not set here; ``available`` false, with ``problem``, when HAProxy did not answer in time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    configured: bool
    available: bool = False
    problem: str = ""
    backends: list[EdgeBackend] = Field(default_factory=list)
    refused: EdgeRefusals | None = None  # None: HAProxy's metrics name no app frontend
