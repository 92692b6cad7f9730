"""Bodies of the run-time controls API: the limits and modes of ``overload.controls``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.overload.controls import Controls, Limits, Modes


class ControlsIn(BaseModel):
    """A whole new set of limits and modes (``PUT`` replaces; send what ``GET`` showed)."""

    model_config = ConfigDict(extra="forbid")

    limits: Limits
    modes: Modes
    # The version the operator started from: if someone saved since, 409 instead of
    # silently undoing their change. Leave it out to overwrite whatever is there.
    version: int | None = Field(default=None, ge=0)


class ControlsOut(Controls):
    """The controls every worker applies (within a second of a change), and the platforms'
    status as the workers see it (``busy`` or ``down`` for a while after a throttled login)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platforms: dict[str, str] = Field(default_factory=dict)
