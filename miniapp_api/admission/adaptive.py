"""The per-worker in-flight limit, adjusted from measured latency.

The idea of Netflix's concurrency-limits (Gradient2) and Sentinel's system protection: a
process can only work on so many requests at once before each one gets slower; past that
point, admitting more only builds a queue. So the limit follows the ratio of a long-term
latency average (what the process does when healthy) to a short-term one (what it does now):

    gradient = clamp(max(TOLERANCE * long_rtt, LATENCY_FLOOR) / short_rtt, 0.5, 1.0)
    limit    = smoothed(limit * gradient + sqrt(limit))

When latency rises, the gradient falls below 1 and the limit shrinks; when latency is back to
normal, the ``sqrt(limit)`` headroom lets it grow again. A request that finds the process at
its limit is refused at once (a cheap 503), instead of waiting behind the others.

Lower traffic classes only get a share of the limit, so they are refused first and critical
requests keep the rest. Thread-safe; one instance per worker process, no I/O.
"""

from __future__ import annotations

import math
import threading

TOLERANCE = 1.5  # latency may grow by half before the limit starts shrinking ...
LATENCY_FLOOR = 0.05  # ... and never shrinks it below this many seconds (nobody notices)
SHORT_WEIGHT = 0.1  # EMA weight of a sample in the short-term average (~10 samples)
LONG_WEIGHT = 1 / 500  # ... and in the long-term one (~500 samples)
SMOOTHING = 0.2  # how far the limit moves towards each new estimate


class AdaptiveConcurrency:
    """Admit while in-flight < limit x share; learn the limit from each finished request."""

    def __init__(self, initial: int, minimum: int, maximum: int) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError("need 1 <= minimum <= initial <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = float(initial)
        self._in_flight = 0
        self._short_rtt = 0.0
        self._long_rtt = 0.0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self, share: float = 1.0) -> bool:
        """Take a slot if fewer than ``limit x share`` requests are in flight (at least one)."""
        with self._lock:
            if self._in_flight >= max(1.0, self._limit * share):
                return False
            self._in_flight += 1
            return True

    def release(self, rtt_seconds: float) -> None:
        """Give the slot back and learn from how long the request took."""
        with self._lock:
            # Gradient2's "application-limited" rule: with less than half the limit in use,
            # slow requests are slow on their own (a platform call, a big batch), not because
            # of crowding; they update the averages but must not shrink the limit.
            crowded = self._in_flight * 2 >= self._limit
            self._in_flight -= 1
            self._learn(max(rtt_seconds, 1e-6), crowded)

    def _learn(self, rtt: float, crowded: bool) -> None:
        if self._long_rtt == 0.0:
            self._short_rtt = self._long_rtt = rtt
            return
        self._short_rtt += SHORT_WEIGHT * (rtt - self._short_rtt)
        self._long_rtt += LONG_WEIGHT * (rtt - self._long_rtt)
        if self._long_rtt > 2 * self._short_rtt:
            # Latency dropped a lot (load went away): let the long view catch up quickly.
            self._long_rtt *= 0.95
        if not crowded:
            return
        allowed = max(TOLERANCE * self._long_rtt, LATENCY_FLOOR)
        gradient = max(0.5, min(1.0, allowed / self._short_rtt))
        estimate = self._limit * gradient + math.sqrt(self._limit)
        limit = self._limit + SMOOTHING * (estimate - self._limit)
        self._limit = min(float(self.maximum), max(float(self.minimum), limit))
