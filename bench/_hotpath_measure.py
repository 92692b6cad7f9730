"""The two measurements of ``bench/hotpath.py``, per route.

* **Rate**: wrk's closed loop against the app (Redis and PostgreSQL reached directly), a
  warm-up run, then a measured run; the app's CPU (gunicorn and its workers, from ``/proc``)
  and the whole machine's are read around the measured run.
* **Round trips**: right after the route's rate (so Redis is as that load leaves it: the
  caches it fills, the copies that expire meanwhile), the same requests to a second, identical
  app whose Redis and PostgreSQL connections go through counting proxies (:mod:`_hotpath_proxy`).
  After a short wrk run (pools filled: connection set-up is not counted) and a second of the
  app idle (watched: it should make no round trip of its own), the requests go one after the
  other on one connection, so what the proxies count between two answers is that request's.
  Kept apart from the rate so that the proxies' latency never touches it.
"""

from __future__ import annotations

import http.client
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _hotpath_proxy import CountingProxy, Counts
from _hotpath_wrk import Request, Run, Wrk
from _overload_apps import Server
from _procs import LOOPBACK, machine_busy_seconds

IDLE_SECONDS = 1.0  # how long the idle app is watched before the counted requests


@dataclass(frozen=True)
class Route:
    name: str
    label: str  # what the table shows, e.g. GET /api/v1/results
    requests: Sequence[Request]
    file: Path  # the same for wrk (:meth:`Wrk.requests_file`)
    warmup: int  # seconds before the measured run
    sessions: int  # distinct sessions in ``requests``, each as often as the others


@dataclass(frozen=True)
class Rate:
    """One or more measured runs of a route (hello has two: first and last)."""

    runs: Sequence[Run]
    app_cpu_seconds: float
    machine_share: float  # of all cores, over the measured runs

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """The app's CPU per 200 answer (refusals are cheap: their share is in ``others``)."""
        return 1000 * self.app_cpu_seconds / self.ok if self.ok else float("nan")

    @property
    def app_share(self) -> float:
        return self.app_cpu_seconds / self.seconds if self.seconds else 0.0

    def p50_ms(self) -> float:
        """The runs' mean median latency (hello's two runs cannot be merged exactly)."""
        return sum(r.p50_ms for r in self.runs) / len(self.runs)

    def p99_ms(self) -> float:
        return max(r.p99_ms for r in self.runs)

    def others(self) -> str:
        return "; ".join(text for r in self.runs if (text := r.others()))

    @staticmethod
    def combined(parts: Sequence[Rate]) -> Rate:
        seconds = sum(p.seconds for p in parts)
        return Rate(
            [r for p in parts for r in p.runs],
            sum(p.app_cpu_seconds for p in parts),
            sum(p.machine_share * p.seconds for p in parts) / seconds if seconds else 0.0,
        )


@dataclass(frozen=True)
class Trips:
    """The round trips of each counted request, sent one at a time: (Redis, PostgreSQL)."""

    each: Sequence[tuple[int, int]]
    statuses: Counter[str]
    redis: Counts  # over all the counted requests
    postgres: Counts
    idle: tuple[Counts, Counts]  # what the app did alone for as long, before (nothing, so far)

    def per_answer(self, value: int) -> float:
        return value / len(self.each) if self.each else float("nan")

    @property
    def round_trips(self) -> float:
        """Redis and PostgreSQL together, on average: a query on the path is a round trip too."""
        return self.per_answer(self.redis.round_trips + self.postgres.round_trips)

    def typical(self) -> tuple[tuple[int, int], float]:
        """The most common (Redis, PostgreSQL) round trips of a request, and its share."""
        (pair, seen), *_ = Counter(self.each).most_common(1)
        return pair, seen / len(self.each)


def rate(wrk: Wrk, server: Server, route: Route, seconds: int) -> Rate:
    if route.warmup:
        wrk.run(server.port, route.file, route.warmup)
    server.wait_idle(timeout=10)
    busy0, total0 = machine_busy_seconds()
    cpu0 = server.cpu_seconds()
    run = wrk.run(server.port, route.file, seconds)
    cpu = server.cpu_seconds() - cpu0
    busy1, total1 = machine_busy_seconds()
    machine = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return Rate([run], cpu, machine)


def round_trips(
    wrk: Wrk,
    server: Server,
    route: Route,
    *,
    count: int,
    proxies: tuple[CountingProxy, CountingProxy],
) -> Trips:
    """The round trips of ``count`` requests of ``route`` (its list in turn) to ``server``,
    sent one after the other on one keep-alive connection: what the proxies count between two
    answers is that one request's."""

    def counts() -> tuple[Counts, Counts]:
        return proxies[0].counts(), proxies[1].counts()

    wrk.run(server.port, route.file, 1)
    server.wait_idle(timeout=10)
    before = counts()
    time.sleep(IDLE_SECONDS)
    after = counts()
    idle = (after[0] - before[0], after[1] - before[1])
    start = before = after
    each: list[tuple[int, int]] = []
    statuses: Counter[str] = Counter()
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
    try:
        for i in range(count):
            statuses[_send(connection, route.requests[i % len(route.requests)])] += 1
            after = counts()
            each.append(
                (
                    after[0].round_trips - before[0].round_trips,
                    after[1].round_trips - before[1].round_trips,
                )
            )
            before = after
    finally:
        connection.close()
    return Trips(each, statuses, after[0] - start[0], after[1] - start[1], idle)


def _send(connection: http.client.HTTPConnection, request: Request) -> str:
    """The status of one request's answer (``conn`` for a socket error)."""
    try:
        connection.request("GET", request.path, None, dict(request.headers))
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        connection.close()  # http.client connects again for the next one
        return "conn"
    return str(response.status)
