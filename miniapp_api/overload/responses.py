"""The rejection contract inside Flask: platform throttling at login, Redis failures in views.

Upstream throttling counts as overload too (DESIGN §7): WeChat ``45011``/``-1`` or Alipay
``20000`` during login answer with the same 503 and alternatives as our own shedding, and the
platform's status is remembered for a while so other rejections can say it is busy.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, Response, current_app, request

from channels.base import ChannelError, ChannelUnavailable, RateLimited
from miniapp_api.errors import channel_error_response
from miniapp_api.overload.controls import PlatformStatus, record_platform_status
from miniapp_api.overload.middleware import gate_of
from miniapp_api.overload.rejection import Context, Rejected, Rejection, render
from miniapp_api.overload.routes import channel_of
from miniapp_api.redis_client import REDIS_DOWN
from miniapp_api.wiring import wiring

log = logging.getLogger(__name__)


def rejection_response(rejection: Rejection) -> Response:
    """Render a rejection for the current request (its channel picks the alternatives)."""
    gate = gate_of(current_app)
    wire = wiring()
    context = Context(
        channel=channel_of(request.environ),
        platforms=tuple(str(p) for p in wire.channels),
        platform_status=gate.controls.platforms if gate is not None else {},
        lookup_url=f"{wire.settings.public_base_url}/lookup",
    )
    status, headers, body = render(rejection, context)
    return Response(body, status=status, headers=headers)


def channel_failure(error: ChannelError, platform: str) -> Response:
    """A platform call failed: throttling and outages get the overload contract."""
    if isinstance(error, RateLimited | ChannelUnavailable):
        busy = isinstance(error, RateLimited)
        _remember(platform, "busy" if busy else "down")
        log.warning(
            "platform %s %s (%s)",
            platform,
            "throttled" if busy else "unavailable",
            error.platform_code,
        )
        retry = error.retry_after if isinstance(error, RateLimited) else 2.0
        reason = "platform_throttled" if busy else "platform_unavailable"
        extra = {"platform": platform, "platform_code": error.platform_code}
        return rejection_response(Rejection(503, reason, retry, extra))
    return channel_error_response(error, platform)


def register_error_handlers(app: Flask) -> None:
    """Redis unreachable in a view: 503 with the alternatives, never a 500 or a hang; a
    service's :class:`Rejected` (cache-only mode, the H5 lookup's limits): its rejection."""

    def redis_unavailable(error: Exception) -> Response:
        log.warning("redis unreachable in %s: %s", request.endpoint, type(error).__name__)
        return rejection_response(Rejection(503, "redis_unavailable", 5.0))

    for exc in REDIS_DOWN:
        app.register_error_handler(exc, redis_unavailable)

    def rejected(error: Rejected) -> Response:
        return rejection_response(error.rejection)

    app.register_error_handler(Rejected, rejected)

    def platform_failure(error: ChannelError) -> Response:
        return channel_failure(error, str(getattr(error, "platform", "") or "unknown"))

    app.register_error_handler(RateLimited, platform_failure)
    app.register_error_handler(ChannelUnavailable, platform_failure)


def _remember(platform: str, status: PlatformStatus) -> None:
    with contextlib.suppress(*REDIS_DOWN):  # best effort: the answer matters more
        record_platform_status(wiring().redis, platform, status)
