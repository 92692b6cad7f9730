"""One Redis client per app: real Redis from the URL, or the in-process stand-in for ``memory://``."""

from __future__ import annotations

import logging

import fakeredis
import redis

from miniapp_api.settings import RedisSettings

log = logging.getLogger(__name__)

# One stand-in server per process, so every client made here sees the same data.
_EMBEDDED_SERVER = fakeredis.FakeServer()


def make_redis(settings: RedisSettings) -> redis.Redis:
    """Build the client. Short socket timeouts: a slow Redis must not hold a request thread."""
    if settings.embedded:
        log.warning(
            "redis: using the in-process stand-in (memory://); single process only, "
            "data is lost on exit. Set MINIAPP_REDIS__URL for anything but a demo."
        )
        return fakeredis.FakeRedis(server=_EMBEDDED_SERVER, lua_modules=set())
    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        health_check_interval=30,
    )
