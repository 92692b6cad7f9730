"""A closed-loop HTTP load generator: N client threads, each one keep-alive connection, one
request in flight per client, for a warm-up and then a measured window.

Each request body comes from a shared queue of pre-built bodies (single-use login codes), so
the measured window touches only the server under test. Threads spend their time blocked on
sockets, where they release the GIL; the client's own CPU is reported so that it can be checked.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


@dataclass
class WindowResult:
    """What one measured window produced."""

    seconds: float
    ok_latencies: list[float] = field(default_factory=list)  # seconds, 200 responses only
    failures: Counter[str] = field(default_factory=Counter)  # "502", "conn", ...
    client_cpu_seconds: float = 0.0
    exhausted: bool = False  # the body queue ran dry before the window ended

    @property
    def ok(self) -> int:
        return len(self.ok_latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the 200 latencies, in milliseconds."""
        if not self.ok_latencies:
            return float("nan")
        ordered = sorted(self.ok_latencies)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000


class _Client(threading.Thread):
    def __init__(
        self,
        port: int,
        path: str,
        bodies: deque[bytes],
        window: tuple[float, float],
        timeout: float,
    ) -> None:
        super().__init__(daemon=True)
        self._port, self._path, self._bodies = port, path, bodies
        self._start_at, self._end_at = window
        self._timeout = timeout
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self.ran_dry = False

    def run(self) -> None:
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        connection = http.client.HTTPConnection(LOOPBACK, self._port, timeout=self._timeout)
        try:
            while (sent := time.monotonic()) < self._end_at:
                try:
                    body = self._bodies.popleft()  # atomic: threads share the queue
                except IndexError:
                    self.ran_dry = True
                    return
                try:
                    connection.request("POST", self._path, body, headers)
                    response = connection.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException):
                    connection.close()  # reconnects on the next request
                    status = "conn"
                done = time.monotonic()
                # A request counts in the window it completes in, if it started in it too.
                if self._start_at <= sent and done <= self._end_at:
                    if status == "200":
                        self.latencies.append(done - sent)
                    else:
                        self.failures[status] += 1
        finally:
            connection.close()


def closed_loop(
    port: int,
    path: str,
    bodies: deque[bytes],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    timeout: float = 10.0,
) -> WindowResult:
    """Run ``concurrency`` clients for ``warmup + duration`` seconds; measure the last part.

    Returns early, flagged ``exhausted``, if the bodies run out first (seeding relies on that).
    """
    now = time.monotonic()
    window = (now + warmup, now + warmup + duration)
    clients = [_Client(port, path, bodies, window, timeout) for _ in range(concurrency)]
    for client in clients:
        client.start()
    time.sleep(max(0.0, window[0] - time.monotonic()))
    cpu_before = time.process_time()
    while time.monotonic() < window[1] and any(c.is_alive() for c in clients):
        time.sleep(0.05)
    measured = min(time.monotonic(), window[1]) - window[0]
    cpu_after = time.process_time()
    for client in clients:
        client.join(timeout + 5)
    result = WindowResult(seconds=measured, client_cpu_seconds=cpu_after - cpu_before)
    for client in clients:
        result.ok_latencies.extend(client.latencies)
        result.failures.update(client.failures)
        result.exhausted |= client.ran_dry
    return result
