"""Hot paths: result lookup, code JSON and code PNG at saturation, beside a bare Flask hello.

`make bench-hotpath` (= `.venv/bin/python bench/hotpath.py`, about 2 minutes; ``--help`` for
the knobs). One run loads families (a resident's account holding itself and one dependent, each
with a result in the read model, a session per account; a scratch PostgreSQL database, Redis
db 7), starts on the app CPU the app with admission control as bench-overload's ``protected``
(``config/gunicorn.conf.py``, 2 workers x 16 threads) and the bare Flask hello with the same
settings, issues every resident's code through the app, and drives each route with wrk's closed
loop from the other CPU: ``/hello``, ``GET /api/v1/results``, ``GET
/api/v1/residents/<id>/code`` and ``.../code.png`` (images the worker has rendered before).

Round trips to Redis and PostgreSQL are counted right after each route's rate, on a second,
identical app whose connections go through counting proxies (:mod:`_hotpath_proxy`: one round
trip is one turn of the conversation on a connection, however many commands it carries), with
requests sent one at a time so that each request's count is known. It prints a row per route
(200 answers/s, x hello, the app's CPU ms per request, round trips per request), one line
``target <name>: <value> <met|MISSED>`` per target, and last ``ratio: <lookup rps / hello rps>``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _hotpath_apps as apps  # noqa: E402  (after the sys.path line above)
import _hotpath_measure as measure  # noqa: E402
import _hotpath_report as report  # noqa: E402
import _hotpath_world as world  # noqa: E402
from _hotpath_proxy import CountingProxy  # noqa: E402
from _hotpath_wrk import Request, Wrk  # noqa: E402
from _overload_apps import Server, start_apps  # noqa: E402
from _overload_world import scratch_world  # noqa: E402
from _procs import ScratchDatabase, cpu_sets, guarded  # noqa: E402

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Not 9, 13, 14 (bench-overload, -ingest, -login) nor 15 (the tests): each flushes its own.
REDIS_URL = os.environ.get("BENCH_HOTPATH_REDIS_URL", "redis://127.0.0.1:6379/7")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add(
        "--accounts",
        type=int,
        default=1000,
        help="families (an account holding itself and a dependent), each with a session: "
        "enough that the closed loop stays far under the per-account quota (1000)",
    )
    add(
        "--png-accounts",
        type=int,
        default=500,
        help="families whose code images are requested, each rendered once before the "
        "window and then kept in its account's view (500)",
    )
    add("--connections", type=int, default=32, help="wrk's keep-alive connections (32)")
    add("--warmup", type=int, default=3, help="seconds of each route before its window (3)")
    add("--measure", type=int, default=10, help="measured seconds per route (10)")
    add(
        "--png-warmup",
        type=int,
        default=3,
        help="seconds of the PNG before its window, after every image was fetched once (3)",
    )
    add(
        "--count",
        type=int,
        default=500,
        help="requests per route whose round trips are counted, one at a time (500)",
    )
    add("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn (2)")
    add("--threads", type=int, default=16, help="MINIAPP_THREADS for gunicorn (16, as deployed)")
    add(
        "--pin",
        choices=("split", "none"),
        default="split",
        help="split: wrk and the proxies on CPU 0, the servers on the others; none: no pinning",
    )
    add("--show-app-log", action="store_true", help="print the app's log at exit")
    args = parser.parse_args(argv)
    if min(args.accounts, args.png_accounts, args.count) < 1:
        parser.error("--accounts, --png-accounts and --count must be positive")
    if args.png_accounts > args.accounts or args.measure < 2 or args.connections < 1:
        parser.error("--png-accounts at most --accounts, --measure at least 2")
    return args


def user_quota() -> report.Quota:
    """The per-user quota the app starts with (config/*.toml, then MINIAPP_OVERLOAD__*)."""
    from flask import Config

    from miniapp_api.settings import load_config

    config = Config(str(ROOT))
    load_config(config)
    return report.Quota(
        float(config["OVERLOAD"]["USER_RATE"]), float(config["OVERLOAD"]["USER_BURST"])
    )


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    own_cpus, app_cpus = cpu_sets(args.pin)
    report.header(args, own_cpus, app_cpus)
    results = guarded("hotpath", lambda stack: run(stack, args, own_cpus, app_cpus))
    return results if isinstance(results, int) else report.final(results)


def run(
    stack: ExitStack,
    args: argparse.Namespace,
    own_cpus: set[int] | None,
    app_cpus: set[int] | None,
) -> report.Results:
    """Set up (clean-ups go on ``stack``), then measure every route."""
    started = time.monotonic()
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hotpath-")))
    wrk = Wrk(directory, args.connections)  # before any set-up: fail now if wrk is missing
    if own_cpus is not None:
        # Threads started from here on (the proxies') and wrk inherit it; the servers are
        # pinned to the app CPUs by their own start-up (_procs.Child).
        os.sched_setaffinity(0, own_cpus)
    database, keys, families = load_world(stack, args.accounts)
    png_users = families[: args.png_accounts]

    ours, bare, hello = start_apps(
        stack, database.url, REDIS_URL, keys, args.workers, args.threads, app_cpus, []
    )
    bare.child.stop()  # bench-overload's unprotected app, not measured here
    proxies = apps.counting_proxies(
        stack,
        redis_port=urlsplit(REDIS_URL).port or 6379,
        postgres_port=make_url(database.url).port or 5432,
    )
    counted = apps.start_counted(stack, ours, proxies, app_cpus)
    if args.show_app_log:
        stack.callback(lambda: print(ours.child.log_text()))
    issued = issue_every_code(ours, families)
    rendered = world.fetch_every(ours.port, png_users, "code.png")
    if rendered != 2 * len(png_users):
        raise RuntimeError(
            f"only {rendered} of {2 * len(png_users)} images rendered\n{ours.child.log_tail()}"
        )
    # The steady state: each account's view (the kept screens) expires at its own time.
    world.spread_view_lifetimes(REDIS_URL)
    say(
        f"  up in {time.monotonic() - started:.0f}s: {issued:,} codes issued and {rendered:,} "
        f"images rendered through the app ({args.png_accounts} accounts)"
    )

    routes = make_routes(args, wrk, families, png_users)
    results = report.Results(routes, user_quota())
    measure_routes(args, wrk, results, servers=(hello, ours, counted), proxies=proxies)
    return results


def load_world(
    stack: ExitStack, accounts: int, prefix: str = "bench_hotpath"
) -> tuple[ScratchDatabase, tuple[str, str], list[world.Family]]:
    """The scratch database ``<prefix>_<random>`` migrated and loaded, Redis flushed (both
    cleaned up with ``stack``): (the database, the app's data and index keys, the families).
    Also bench/profile_hotpath.py's set-up."""
    database, keys, crypto = scratch_world(stack, ADMIN_DATABASE_URL, prefix, REDIS_URL)
    say(f"  set-up: {accounts:,} families into {database.name}, Redis {REDIS_URL}")
    return database, keys, world.build(database.url, REDIS_URL, crypto, accounts, say)


def issue_every_code(ours: Server, families: list[world.Family]) -> int:
    """Every resident's code issued through the app (as a first request would); how many."""
    issued = world.fetch_every(ours.port, families, "code")
    if issued != 2 * len(families):
        raise RuntimeError(
            f"only {issued} of {2 * len(families)} codes issued\n{ours.child.log_tail()}"
        )
    return issued


def measure_routes(
    args: argparse.Namespace,
    wrk: Wrk,
    results: report.Results,
    *,
    servers: tuple[Server, Server, Server],
    proxies: tuple[CountingProxy, CountingProxy],
) -> None:
    """hello's first half; each route's rate on ``ours``, then its round trips on ``counted``;
    hello's last half (the machine's drift over the minute falls on both sides of hello)."""
    hello, ours, counted = servers
    hello_route, app_routes = results.routes[0], results.routes[1:]
    first, last = args.measure // 2, args.measure - args.measure // 2
    say(
        f"  {args.measure}s of closed loop per route, then {args.count:,} requests one at a time "
        f"through the counting proxies:"
    )
    hello_first = measure.rate(wrk, hello, hello_route, first)
    say(f"    hello (first half) {hello_first.rate:.0f}/s")
    for route in app_routes:
        results.rates[route.name] = measure.rate(wrk, ours, route, args.measure)
        results.trips[route.name] = measure.round_trips(
            wrk, counted, route, count=args.count, proxies=proxies
        )
        say(
            f"    {route.name} {results.rates[route.name].rate:.0f}/s, "
            f"{results.trips[route.name].round_trips:.2f} round trips per request"
        )
    hello_last = measure.rate(wrk, hello, hello_route, last)
    say(f"    hello (last half) {hello_last.rate:.0f}/s")
    results.rates["hello"] = measure.Rate.combined([hello_first, hello_last])


def make_routes(
    args: argparse.Namespace,
    wrk: Wrk,
    families: list[world.Family],
    png_users: list[world.Family],
) -> list[measure.Route]:
    """hello, lookup, code, png: each a shuffled list of requests, every one with a session."""
    rng = random.Random(3)

    def route(name: str, label: str, requests: list[Request], warmup: int) -> measure.Route:
        rng.shuffle(requests)  # consecutive requests from different users
        sessions = len({r.headers["Authorization"] for r in requests})
        file = wrk.requests_file(name, requests)
        return measure.Route(name, label, requests, file, warmup, sessions)

    def per_resident(users: list[world.Family], suffix: str) -> list[Request]:
        return [
            Request(f"/api/v1/residents/{resident}/{suffix}", user.headers())
            for user in users
            for resident in user.residents
        ]

    return [
        # The same headers as the lookups (a session, a channel): hello reads none of them.
        route(
            "hello", "GET /hello", [Request("/hello", f.headers()) for f in families], args.warmup
        ),
        route(
            "lookup",
            "GET /api/v1/results",
            [Request("/api/v1/results", f.headers()) for f in families],
            args.warmup,
        ),
        route(
            "code", "GET /api/v1/residents/<id>/code", per_resident(families, "code"), args.warmup
        ),
        route(
            "png",
            "GET /api/v1/residents/<id>/code.png",
            per_resident(png_users, "code.png"),
            args.png_warmup,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
