"""A closed-loop HTTP load generator: N client threads, each one keep-alive connection and one
request in flight, running until stopped; the caller cuts measurement windows out of the log.

Each request body comes from a shared queue of pre-built bodies (single-use login codes), so a
run touches only the server under test. Threads spend their time blocked on sockets, where they
release the GIL. Every request is logged as (sent, done, status); a window counts the requests
that *completed* in it and were *sent* after the last change of conditions (so none of them
saw the previous setting), which does not under-count the way "sent and done inside" would.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
Record = tuple[float, float, str]  # (sent, done, status) on time.monotonic()


@dataclass
class Tally:
    """What some measured windows produced (several windows add up into one tally)."""

    seconds: float = 0.0
    ok_latencies: list[float] = field(default_factory=list)  # seconds, 200 responses only
    failures: Counter[str] = field(default_factory=Counter)  # "502", "conn", ...
    client_cpu_seconds: float = 0.0

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

    def add(self, records: list[Record], since: float, start: float, end: float) -> None:
        """Count the records done in [start, end) and sent at or after ``since``."""
        self.seconds += end - start
        for sent, done, status in records:
            if sent >= since and start <= done < end:
                if status == "200":
                    self.ok_latencies.append(done - sent)
                else:
                    self.failures[status] += 1


class _Client(threading.Thread):
    def __init__(self, loop: ClosedLoop) -> None:
        super().__init__(daemon=True)
        self._loop = loop
        self.records: list[Record] = []
        self.sent_at: float | None = None  # when the request now in flight was sent

    def run(self) -> None:
        loop = self._loop
        headers = {"Content-Type": "application/json"}
        connection = http.client.HTTPConnection(LOOPBACK, loop.port, timeout=loop.timeout)
        try:
            while not loop.stopping.is_set():
                try:
                    body = loop.bodies.popleft()  # atomic: the threads share the queue
                except IndexError:
                    loop.ran_dry_at = loop.ran_dry_at or time.monotonic()
                    return
                sent = self.sent_at = time.monotonic()
                try:
                    connection.request("POST", loop.path, body, headers)
                    response = connection.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException):
                    connection.close()  # http.client reconnects on the next request
                    status = "conn"
                self.records.append((sent, time.monotonic(), status))
                self.sent_at = None
        finally:
            connection.close()


class ClosedLoop:
    """``concurrency`` clients posting ``bodies`` to ``path`` until :meth:`stop` or the end of
    the bodies (``ran_dry_at`` then tells when)."""

    def __init__(
        self, port: int, path: str, bodies: deque[bytes], concurrency: int, timeout: float = 10.0
    ) -> None:
        self.port, self.path, self.bodies, self.timeout = port, path, bodies, timeout
        self.stopping = threading.Event()
        self.ran_dry_at: float | None = None
        self._clients = [_Client(self) for _ in range(concurrency)]

    def start(self) -> None:
        for client in self._clients:
            client.start()

    def alive(self) -> bool:
        return any(client.is_alive() for client in self._clients)

    def wait_for_in_flight(self, sent_before: float, deadline: float) -> None:
        """Block until no request sent before ``sent_before`` is in flight (or ``deadline``)."""
        while time.monotonic() < deadline and any(
            (sent := client.sent_at) is not None and sent < sent_before for client in self._clients
        ):
            time.sleep(0.01)

    def wait_until_done(self, deadline: float) -> None:
        """Block until every client has stopped (bodies used up) or ``deadline`` passes."""
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> list[Record]:
        """Stop the clients (each finishes its request in flight) and return every record."""
        self.stopping.set()
        for client in self._clients:
            client.join(self.timeout + 5)
        return [record for client in self._clients for record in client.records]
