"""The rejection contract as this deployment answers it: one renderer per app.

Every refusal leaves through :class:`RejectionRenderer`, wherever it is decided: the admission
gate and the worker's door (``miniapp_api/admission``), and the error handlers for a service's
:class:`~miniapp_api.overload.rejection.Rejected`, an unreachable Redis or a throttling
platform (``miniapp_api/errors.py``). It knows what the alternatives depend on: the platforms
enabled here, the H5 lookup's address, and the platforms' current status from the worker's copy
of the controls (refreshed by the gate's pipeline).
"""

from __future__ import annotations

import contextlib

import redis

from miniapp_api.messages.language import DEFAULT, Language
from miniapp_api.overload.controls import ControlsCache, PlatformStatus, record_platform_status
from miniapp_api.overload.rejection import Context, Rejection, render
from miniapp_api.redis_client import REDIS_DOWN


class RejectionRenderer:
    def __init__(
        self,
        *,
        platforms: tuple[str, ...],
        lookup_url: str,
        controls: ControlsCache,
        client: redis.Redis,
    ) -> None:
        self.platforms = platforms
        self.lookup_url = lookup_url
        self._controls = controls
        self._redis = client

    def render(
        self, rejection: Rejection, channel: str, language: Language = DEFAULT
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of ``rejection`` for a caller on ``channel``, worded in
        ``language`` (``messages.language_of(environ)``: the caller's ``Accept-Language``)."""
        context = Context(
            channel, self.platforms, self._controls.platforms, self.lookup_url, language
        )
        return render(rejection, context)

    def platform_failed(self, platform: str, status: PlatformStatus) -> None:
        """Remember for a while that ``platform`` throttles us or is down, so that every
        worker's rejections say so; best effort (the answer matters more)."""
        with contextlib.suppress(*REDIS_DOWN):
            record_platform_status(self._redis, platform, status)
