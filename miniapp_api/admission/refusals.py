"""Callers refused for their quota, remembered by the worker until they may come back.

GCRA tells a refused caller how long to wait. Until then, every further request of theirs
would be refused again; remembering that in the worker answers those without a Redis round
trip, so a client hammering at 100x its quota costs a dictionary lookup per request instead of
a network call (bench/overload.py: what the abuser costs everyone else).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_REMEMBERED = 10_000  # callers; forgotten all at once when full (they are asked again)


class RecentRefusals:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, tuple[float, float]] = {}  # key -> (until, share refused)
        self._lock = threading.Lock()

    def remember(self, key: str, seconds: float, share: float) -> None:
        with self._lock:
            if len(self._until) >= MAX_REMEMBERED:
                self._until.clear()
            self._until[key] = (self._clock() + seconds, share)

    def wait(self, key: str, share: float) -> float:
        """Seconds ``key`` must still wait at this share of the bucket (0: ask Redis)."""
        found = self._until.get(key)
        if found is None or share > found[1]:
            return 0.0  # a higher class may still fit where a lower one did not
        left = found[0] - self._clock()
        if left <= 0:
            with self._lock:
                self._until.pop(key, None)
            return 0.0
        return left
