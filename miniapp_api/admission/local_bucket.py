"""A token bucket in process memory: the fall-back limiter while Redis is unreachable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LocalBucket:
    """``rate`` tokens per second, holding at most ``burst``; thread-safe."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True
