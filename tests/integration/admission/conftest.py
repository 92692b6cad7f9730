"""Apps made per test with the admission settings a test needs, on the suite's PostgreSQL and
emulator and the Redis of ``redis_url`` (a module on another Redis overrides it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from channels.emulator import RunningEmulator
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp, app_factory


@pytest.fixture
def redis_url(redis_client: redis.Redis) -> str:
    """The suite's Redis, flushed."""
    return REDIS_URL


@pytest.fixture
def make_app(
    platform_keys: PlatformKeys, emulator: RunningEmulator, postgres_url: str, redis_url: str
) -> Iterator[MakeApp]:
    """``make_app(USER_RATE=..., ...)``: an app whose OVERLOAD section is overridden."""
    with app_factory(
        app_overrides(platform_keys, emulator.base_url, postgres_url, redis_url)
    ) as make:
        yield make
