"""The app's access token, shared by every worker through Redis, refreshed by one at a time.

Fetching a new WeChat token voids the previous one, so workers must not race: the one that
takes the lock fetches, the others wait for it and read what it stored (STYLE rule 9).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable

import redis
from redis.exceptions import RedisClusterException

from channels.base import ChannelUnavailable

# Delete the lock only if we still hold it (it may have expired and been taken by another worker).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

TokenFetcher = Callable[[], tuple[str, int]]
"""Fetch a new token from the platform: returns ``(access_token, expires_in seconds)``."""

# Any failure of a Redis call, on a single server or a cluster (channels do not import the app).
REDIS_ERRORS = (redis.RedisError, RedisClusterException)


class AccessTokenCache:
    """One app's access token in Redis, ``margin`` seconds shorter-lived than WeChat says.

    Keys carry the app id as a ``{hash tag}``, so the token and its lock share a cluster slot.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        app_id: str,
        fetch: TokenFetcher,
        *,
        margin: int = 300,
        lock_ttl: float = 10.0,
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = redis_client
        self._fetch = fetch
        self.margin = margin
        self.lock_ttl = lock_ttl  # longer than one fetch can take (the HTTP timeout)
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self.key = f"wechat:{{{app_id}}}:access_token"
        self.lock_key = f"wechat:{{{app_id}}}:access_token:lock"
        self._release = redis_client.register_script(_RELEASE)

    def get(self) -> str:
        """The shared token; fetched (by one worker) when there is none."""
        current = self._read()
        return current if current is not None else self.refresh()

    def refresh(self, stale: str | None = None) -> str:
        """A token other than ``stale``: fetch one under the lock, or wait for the lock holder.

        ``stale`` is the token the platform just refused; None means "any stored token will do".
        Raises :class:`ChannelUnavailable` if no token shows up within the lock's lifetime.
        """
        deadline = self._clock() + self.lock_ttl + 1.0
        while True:
            owner = secrets.token_hex(16)
            if self._lock(owner):
                try:
                    return self._refresh_locked(stale)
                finally:
                    self._unlock(owner)
            # Another worker is fetching: wait for its token rather than voiding it with ours.
            current = self._read()
            if current is not None and current != stale:
                return current
            if self._clock() >= deadline:
                raise ChannelUnavailable("timed out waiting for the wechat access token refresh")
            self._sleep(self.poll_interval)

    def _refresh_locked(self, stale: str | None) -> str:
        current = self._read()
        if current is not None and current != stale:
            return current  # someone refreshed between our read and our lock
        token, expires_in = self._fetch()
        ttl = expires_in - self.margin if expires_in > 2 * self.margin else max(1, expires_in // 2)
        self._redis_call(lambda: self._redis.set(self.key, token, ex=ttl))
        return token

    def _lock(self, owner: str) -> bool:
        ttl_ms = int(self.lock_ttl * 1000)
        return bool(
            self._redis_call(lambda: self._redis.set(self.lock_key, owner, nx=True, px=ttl_ms))
        )

    def _unlock(self, owner: str) -> None:
        # The lock expires by itself; a fetched token must not be lost over a failed release.
        with contextlib.suppress(*REDIS_ERRORS):
            self._release(keys=[self.lock_key], args=[owner])

    def _read(self) -> str | None:
        value = self._redis_call(lambda: self._redis.get(self.key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    @staticmethod
    def _redis_call(call: Callable[[], object]) -> object:
        try:
            return call()
        except REDIS_ERRORS as exc:
            raise ChannelUnavailable(
                f"redis unavailable for the wechat access token ({type(exc).__name__})"
            ) from None
