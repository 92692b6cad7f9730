"""What ``bench/hotpath.py`` prints: the set-up, a row per route, the targets, the ratio."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from _hotpath_measure import IDLE_SECONDS, Rate, Route, Trips

# The targets (README, "Benchmarks").
LOOKUP_RATIO = 0.6  # lookup and code JSON, x hello
PNG_RATIO = 0.5  # the code PNG from cache, x hello
ROUND_TRIPS = 1
# "One round trip" is judged on the typical request: the most common count, if that many
# requests have it. A copy in Redis that expired (the links an account holds) is filled again
# with round trips of its own now and then; those show in the share and in the mean.
TYPICAL_SHARE = 0.9
NOISY = 0.5  # cores used by others beyond which a row is called disturbed
SATURATED = 0.9  # of its core: in a closed loop at saturation the app should use it all


@dataclass(frozen=True)
class Quota:
    """The per-user quota the app starts with; the gate keeps one bucket per session."""

    rate: float
    burst: float


@dataclass
class Results:
    routes: list[Route]
    quota: Quota
    rates: dict[str, Rate] = field(default_factory=dict)
    trips: dict[str, Trips] = field(default_factory=dict)

    def ratio(self, name: str) -> float:
        hello = self.rates["hello"].rate
        return self.rates[name].rate / hello if hello else float("nan")


def header(args: argparse.Namespace, own: set[int] | None, app: set[int] | None) -> None:
    print("bench/hotpath: the hot paths at saturation, beside a bare Flask hello, admission on")
    print(
        f"  gunicorn gthread (config/gunicorn.conf.py): MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}, MINIAPP_OVERLOAD__ENABLED=true (bench-overload's "
        f"protected app); hello: bench/_hello_app.py, the same settings\n"
        f"  load: closed loop, wrk (1 thread) with {args.connections} keep-alive connections; "
        f"warm-up {args.warmup}s then {args.measure}s measured per route (hello: "
        f"{args.measure // 2}s first and {args.measure - args.measure // 2}s last, summed; "
        f"png warm-up {args.png_warmup}s)\n"
        f"  round trips: after each route's rate, {args.count:,} of its requests one at a time to "
        f"a second, identical app whose Redis and PostgreSQL connections go through counting "
        f"proxies"
    )
    if own is not None and app is not None:
        print(
            f"  pinning: servers on CPU {','.join(map(str, sorted(app)))}; wrk and the proxies "
            f"on CPU {','.join(map(str, sorted(own)))}; PostgreSQL and Redis unpinned"
        )
    else:
        print("  pinning: none")


COLUMNS = (
    f"{'route':<7} {'request':<42} {'200/s':>7} {'x hello':>7} {'cpu ms':>6} {'app':>4} "
    f"{'mach':>4} {'p50 ms':>6} {'p99 ms':>6} {'redis rt':>8} {'cmds':>5} {'pg rt':>5} "
    f"{'typical':>11}  other"
)


def _figure(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def row(results: Results, route: Route) -> str:
    r = results.rates[route.name]
    trips = results.trips.get(route.name)
    nan = float("nan")
    redis_rt = trips.per_answer(trips.redis.round_trips) if trips else nan
    commands = trips.per_answer(trips.redis.commands) if trips else nan
    pg_rt = trips.per_answer(trips.postgres.round_trips) if trips else nan
    typical = "-"
    if trips:
        (redis, postgres), share = trips.typical()
        typical = f"{redis}+{postgres} {share:.0%}"
    others = [r.others()]
    if trips:
        others += [f"counting: {s} x{n}" for s, n in sorted(trips.statuses.items()) if s != "200"]
        if trips.idle[0].round_trips or trips.idle[1].round_trips:
            others.append(
                f"idle app: {trips.idle[0].round_trips} Redis, {trips.idle[1].round_trips} "
                f"PostgreSQL round trips in {IDLE_SECONDS:g}s (counted in)"
            )
    if r.app_share < SATURATED:
        others.append(f"the app had {r.app_share:.0%} of its core: shared, or waiting on I/O")
    if r.machine_share * 2 - r.app_share > NOISY:  # 2 cores: others' use beside the app's
        others.append("disturbed: the machine was busy")
    return (
        f"{route.name:<7} {route.label:<42} {r.rate:>7.0f} {results.ratio(route.name):>7.2f} "
        f"{_figure(r.cpu_ms):>6} {r.app_share:>4.0%} {r.machine_share:>4.0%} "
        f"{r.p50_ms():>6.1f} {r.p99_ms():>6.1f} {_figure(redis_rt):>8} {_figure(commands, 1):>5} "
        f"{_figure(pg_rt):>5} {typical:>11}  {', '.join(o for o in others if o)}"
    )


def targets(results: Results) -> list[tuple[str, str, bool]]:
    """(name, figure, met?) of each target of the issue."""
    out = []
    for name, what, floor in (
        ("lookup", "lookup", LOOKUP_RATIO),
        ("code", "code JSON", LOOKUP_RATIO),
        ("png", "code PNG from cache", PNG_RATIO),
    ):
        ratio = results.ratio(name)
        out.append((f"{what} >= {floor} x hello", f"{ratio:.2f}", ratio >= floor))
    for name, what in (("lookup", "lookup"), ("code", "code JSON")):
        trips = results.trips[name]
        (redis, postgres), share = trips.typical()
        figure = (
            f"{redis + postgres} ({redis} Redis + {postgres} PostgreSQL) for {share:.1%} of "
            f"requests, mean {trips.round_trips:.2f}"
        )
        met = redis + postgres <= ROUND_TRIPS and share >= TYPICAL_SHARE
        out.append((f"{what} in {ROUND_TRIPS} round trip", figure, met))
    return out


def final(results: Results) -> int:
    print(COLUMNS)
    for route in results.routes:
        print(row(results, route))
    hello = results.rates["hello"]
    halves = " / ".join(f"{run.rate:.0f}" for run in hello.runs)
    print(
        f"  hello 200/s first / last: {halves}; cpu ms: the app's CPU per 200 answer; app, mach: "
        f"CPU used by the app (of one core) and by the whole machine (of all); redis rt, cmds, "
        f"pg rt: Redis round trips, Redis commands, PostgreSQL round trips per request, on "
        f"average; typical: the most common Redis+PostgreSQL round trips of a request, and how "
        f"many requests had it"
    )
    busiest = max(results.routes[1:], key=lambda r: results.rates[r.name].rate / r.sessions)
    per_session = results.rates[busiest.name].rate / busiest.sessions
    print(
        f"  per-user quota {results.quota.rate:g}/s (burst {results.quota.burst:g}), as configured "
        f"and checked on every request (its GCRA script is in the admission pipeline): each "
        f"session sent at most {per_session:.2f}/s ({busiest.name}, {busiest.sessions:,} sessions)"
    )
    for name, figure, met in targets(results):
        print(f"target {name}: {figure} {'met' if met else 'MISSED'}")
    print(f"ratio: {results.ratio('lookup'):.2f}")
    return 0
