"""The measured runs of ``bench/overload.py``: the capacity search and the overload scenarios.

Each run is one open-loop schedule (:mod:`_openloop`) against one server, with the server's
worker memory sampled twice a second beside it; afterwards the bench waits until the server
has gone idle (an unprotected app may still be working through a backlog of requests whose
clients gave up long ago), so that one run does not slow the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import _openloop as openloop
from _openloop import Outcome
from _openloop_schedule import Schedule, Segment, Stream
from _overload_apps import Server
from _overload_measure import Summary, summarize, windows
from _procs import machine_busy_seconds

CAPACITY_LATENCY = 0.200  # B: the highest rate served with p99 under 200 ms
CAPACITY_SHARE = 0.99
LAG_LIMIT_MS = 10.0  # the generator is behind when its own lateness exceeds this at p99


@dataclass(frozen=True)
class Load:
    """The requests of the bench, ready-made, and where they are sent from."""

    critical: Sequence[bytes]  # GET /api/v1/results, one per user
    sheddable: Sequence[bytes]  # the sheddable route, one per user
    abuser: Sequence[bytes]  # GET /api/v1/results of the one abusive user
    hello: Sequence[bytes]  # GET /hello with the same headers
    # Each user's loopback address (as critical and sheddable), and the abuser's: () sends all
    # from 127.0.0.1 over shared keep-alive connections, as against the app without a front.
    sources: Sequence[str] = ()
    abuser_sources: Sequence[str] = ()

    def critical_at(self, tag: str, rate: float) -> Stream:
        return Stream(tag, rate, self.critical, self.sources)

    def sheddable_at(self, tag: str, rate: float) -> Stream:
        return Stream(tag, rate, self.sheddable, self.sources)

    def abuser_at(self, tag: str, rate: float) -> Stream:
        return Stream(tag, rate, self.abuser, self.abuser_sources)


@dataclass(frozen=True)
class Timing:
    warmup: float
    measure: float
    capacity_warmup: float
    capacity_measure: float
    recovery: float
    deadline: float
    max_connections: int


@dataclass
class Run:
    outcome: Outcome
    rss: list[tuple[float, float]]  # (seconds from the start, worker MB)
    app_cpu: float = 0.0  # the server's CPU seconds over the run
    machine_busy: float = 0.0  # busy CPU seconds of the whole machine over the run
    machine_total: float = 0.0
    settle_seconds: float = 0.0

    @property
    def app_share(self) -> float:
        """The server's CPU over the run, as a share of one core."""
        return self.app_cpu / max(self.outcome.wall_seconds, 1e-9)

    @property
    def others_cores(self) -> float:
        """CPU used by everything but the server and the generator (PostgreSQL, Redis, and
        whatever else runs on the machine), in cores."""
        ours = self.app_cpu + self.outcome.cpu_seconds
        return max(0.0, self.machine_busy - ours) / max(self.outcome.wall_seconds, 1e-9)

    @property
    def machine_share(self) -> float:
        """How busy the whole machine was (every core, everyone's processes)."""
        return self.machine_busy / max(self.machine_total, 1e-9)

    def rss_at(self, when: float) -> float:
        before = [mb for t, mb in self.rss if t <= when]
        return before[-1] if before else self.rss[0][1]

    def rss_peak(self, start: float, end: float) -> float:
        return max((mb for t, mb in self.rss if start <= t <= end), default=0.0)


def run(server: Server, segments: Sequence[Segment], timing: Timing, seed: int = 1) -> Run:
    schedule = Schedule.build(segments, seed)
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            rss.append((time.monotonic() - started, server.worker_rss_mb()))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    app0, (busy0, total0) = server.cpu_seconds(), machine_busy_seconds()
    try:
        outcome = openloop.run(server.port, schedule, timing.deadline, timing.max_connections)
    finally:
        stop.set()
        sampler.join()
    busy1, total1 = machine_busy_seconds()
    result = Run(outcome, rss, server.cpu_seconds() - app0, busy1 - busy0, total1 - total0)
    result.settle_seconds = server.wait_idle()
    return result


# --- capacity ------------------------------------------------------------------------------
@dataclass
class Capacity:
    rate: float
    trials: list[tuple[float, float, float]] = field(default_factory=list)  # rate, share, p99 ms

    def line(self) -> str:
        return ", ".join(
            f"{r:.0f}/s {'ok' if s >= CAPACITY_SHARE else 'no'} (p99 {p:.0f} ms)"
            for r, s, p in self.trials
        )


def capacity(
    server: Server,
    requests: Sequence[bytes],
    timing: Timing,
    start_rate: float,
    precision: float = 0.05,
    say: Callable[[str], None] = print,
    sources: Sequence[str] = (),
) -> Capacity:
    """The highest Poisson arrival rate at which 99% of requests get a 2xx within 200 ms
    (p99 under 200 ms, a rejection or failure counting as slower than any answer): double
    from ``start_rate`` until a rate fails, then bisect to ``precision``. ``sources``: each
    request's address (:class:`Stream`)."""
    found = Capacity(0.0)

    def trial(rate: float, seed: int) -> bool:
        warm, measure = timing.capacity_warmup, timing.capacity_measure
        segments = [Segment(warm + measure, [Stream("c", rate, requests, sources)])]
        done = run(server, segments, timing, seed)
        summary = summarize(done.outcome, warm, warm + measure)
        share, p99 = summary.within_share(CAPACITY_LATENCY), summary.all_ms(99)
        found.trials.append((rate, share, p99))
        answered = sum(1 for status in done.outcome.status if status >= 100)
        per_request = done.app_cpu / max(answered, 1) * 1000
        refused = summary.statuses[429] + summary.statuses[503]
        say(
            f"    {server.name:<11} {rate:7.0f}/s  {share:7.2%} in 200 ms  p99 {p99:5.0f} ms  "
            f"app cpu {done.app_share:4.0%} ({per_request:.2f} ms a request)  "
            f"machine {done.machine_share:4.0%}  refused {refused}  failed {summary.others()}"
        )
        return share >= CAPACITY_SHARE

    def passes(rate: float) -> bool:
        # A rate fails only if a second try fails too: on a shared machine one bad second
        # (someone else's burst) would otherwise set B for the whole run.
        return trial(rate, 1) or trial(rate, 2)

    low, high, rate = 0.0, 0.0, start_rate
    while passes(rate):
        low, rate = rate, rate * 2
    high = rate
    while low == 0.0 and high > 10:  # even the start failed: halve down to a passing rate
        high /= 2
        if passes(high):
            low = high
            high *= 2
    while low > 0 and (high - low) / low > precision:
        mid = (low + high) / 2
        if passes(mid):
            low = mid
        else:
            high = mid
    found.rate = low
    return found


# --- scenarios -----------------------------------------------------------------------------
@dataclass
class Plain:
    """One load for the warm-up plus the measured window."""

    run: Run
    total: Summary
    by_tag: dict[str, Summary]


def plain(server: Server, streams: Sequence[Stream], timing: Timing) -> Plain:
    warm, measure = timing.warmup, timing.measure
    result = run(server, [Segment(warm + measure, streams)], timing)
    outcome = result.outcome
    by_tag = {s.tag: summarize(outcome, warm, warm + measure, [s.tag]) for s in streams}
    return Plain(result, summarize(outcome, warm, warm + measure), by_tag)


def with_abuser(server: Server, normal: Stream, abuser: Stream, timing: Timing) -> Plain:
    """The normal load alone, then the same load with the abuser beside it, in one run: the
    others' goodput is compared between the two halves (``by_tag``: ``alone``, then the
    streams' tags for the second half)."""
    warm, measure = timing.warmup, timing.measure
    half = warm + measure
    result = run(server, [Segment(half, [normal]), Segment(half, [normal, abuser])], timing)
    outcome = result.outcome
    by_tag = {t: summarize(outcome, half + warm, 2 * half, [t]) for t in (normal.tag, abuser.tag)}
    by_tag["alone"] = summarize(outcome, warm, half, [normal.tag])
    return Plain(result, summarize(outcome, half + warm, 2 * half), by_tag)


@dataclass
class Surge:
    """A normal load, the surge (warm-up and measured window), then the normal load again."""

    run: Run
    normal: Summary  # the normal load before the surge
    surge: Summary  # the measured window of the surge
    after: list[Summary]  # one per second after the surge stopped
    surge_end: float
    rss_before: float
    rss_peak: float
    rss_end: float

    def recovered_after(self, threshold_ms: float) -> float | None:
        """Seconds after the surge from which every later second had p99 <= threshold."""
        for k in range(len(self.after)):
            if all(w.all_ms(99) <= threshold_ms for w in self.after[k:]):
                return float(k)
        return None


def surge(
    server: Server,
    load: Load,
    normal_rate: float,
    surge_rate: float,
    timing: Timing,
    normal_seconds: float = 3.0,
) -> Surge:
    warm, measure = timing.warmup, timing.measure
    segments = [
        Segment(normal_seconds, [load.critical_at("c", normal_rate)]),
        Segment(warm + measure, [load.critical_at("c", surge_rate)]),
        Segment(timing.recovery, [load.critical_at("c", normal_rate)]),
    ]
    result = run(server, segments, timing)
    outcome = result.outcome
    start, end = normal_seconds + warm, normal_seconds + warm + measure
    return Surge(
        result,
        summarize(outcome, 1.0, normal_seconds),
        summarize(outcome, start, end),
        windows(outcome, end, end + timing.recovery),
        end,
        result.rss_at(normal_seconds),
        result.rss_peak(normal_seconds, end + timing.recovery),
        result.rss_at(end),
    )


def generator_max(
    echo: Server, requests: Sequence[bytes], timing: Timing, say: Callable[[str], None] = print
) -> float:
    """The highest rate (doubling from 1000/s) the generator offers a trivial server on time:
    every request answered, its own lateness under 10 ms at p99."""
    best, rate = 0.0, 1000.0
    while rate <= 64_000:
        done = plain(echo, [Stream("c", rate, requests)], timing)
        s, out = done.total, done.run.outcome
        cpu = out.cpu_seconds / max(out.wall_seconds, 1e-9)
        ok = s.ok == s.offered and s.lag_ms(99) <= LAG_LIMIT_MS
        say(
            f"    {rate:7.0f}/s offered: {s.goodput:7.0f}/s answered, p99 {s.ok_ms(99):6.1f} ms, "
            f"own lag p99 {s.lag_ms(99):6.1f} ms, {cpu:4.0%} of its CPU, "
            f"{out.peak_connections} connections: {'on time' if ok else 'BEHIND'}"
        )
        if not ok:
            break
        best, rate = rate, rate * 2
    return best
