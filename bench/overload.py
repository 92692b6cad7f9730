"""Overload: the app with admission control, without, and behind the HAProxy front door, open-loop.

`make bench-overload` (= `.venv/bin/python bench/overload.py`; ``--help`` for the knobs;
``--quick`` for a short pass). One run loads residents with results and sessions (a scratch
PostgreSQL database, Redis db 9), starts on the app CPU three gunicorn servers with
``config/gunicorn.conf.py`` (the app with ``MINIAPP_OVERLOAD__ENABLED=true``, the same app with
``false``, and a bare Flask hello app) and, unless ``--configs`` says otherwise, two HAProxys
rendered by ``miniapp_api.edge.write_config``: ``front`` in front of the protected app and
``front-bare`` in front of the unprotected one (each node's ``maxconn`` its workers x threads,
both apps with ``MINIAPP_APP__TRUSTED_PROXIES=1``). So four configurations share one node
process per app and one CPU: ``protected`` and ``unprotected`` (the app without a front, as
before), ``front`` and ``front-bare``. The generator runs on the other CPU: open loop (Poisson
arrivals fixed in advance, latency from the intended send time, a 1 s client deadline); through
a front door each user sends from a loopback address of their own group (16 users to one, the
edge's per-address ceiling), the abuser from one of its own.

It finds each configuration's capacity (the highest rate served with p99 under 200 ms): B of
the app without a front is the protected app's, B of the front door the front's. Then it
offers each configuration 1x, 3x and 10x its B of result lookups, 2x B half critical and half
sheddable, and 1x B with one user sending 100 times the per-user quota. It prints the table,
the targets of the app without a front, one line ``target <name>: <value> <met|MISSED>`` per
target of the front door, and as its last line ``ratio: <goodput at 3x B / B>`` of the front
door (of the protected app when ``--configs`` leaves the front out).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _openloop as openloop  # noqa: E402  (after the sys.path line above)
import _overload_report as report  # noqa: E402
import _overload_world as world  # noqa: E402
from _openloop_schedule import Stream  # noqa: E402
from _overload_apps import (  # noqa: E402
    Server,
    start_apps,
    start_echo,
    start_without_door,
)
from _overload_front import haproxy_executable, start_front  # noqa: E402
from _overload_scenarios import (  # noqa: E402
    Load,
    Timing,
    capacity,
    generator_max,
    plain,
    surge,
    with_abuser,
)
from _procs import cpu_sets, guarded, http_json  # noqa: E402

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Not 13, 14 (bench-ingest, bench-login) nor 15 (the tests): each flushes its own.
REDIS_URL = os.environ.get("BENCH_OVERLOAD_REDIS_URL", "redis://127.0.0.1:6379/9")
CRITICAL_PATH = "/api/v1/results"
SHEDDABLE_PATHS = ("/api/v1/results/history", "/api/v1/me")  # the first the app has
CONFIGS = ("protected", "unprotected", "front", "front-bare", "front-nodoor")
DEFAULT_CONFIGS = CONFIGS[:4]  # front-nodoor is an experiment: --configs front,front-nodoor,...
# HAProxy -> the app behind it; "protected-nodoor" is the protected app on plain gthread.
FRONTED = {"front": "protected", "front-bare": "unprotected", "front-nodoor": "protected-nodoor"}
GROUP = {"protected": "direct", "unprotected": "direct"} | dict.fromkeys(FRONTED, "front")
GROUP_LABEL = {"direct": "without a front", "front": "through the front door"}
ABUSER_ADDRESS = "127.2.0.1"  # apart from every other user's (addresses())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add(
        "--quick",
        action="store_true",
        help="fewer users, shorter windows (all four configurations in ~7 min)",
    )
    add(
        "--configs",
        default=",".join(DEFAULT_CONFIGS),
        help="comma-separated, of " + ", ".join(CONFIGS) + " (default: all but front-nodoor; "
        "the front ones need haproxy)",
    )
    add("--users", type=int, help="residents, each with an account and a session (10000)")
    add("--measure", type=float, help="measured seconds per scenario (10; quick 4)")
    add("--warmup", type=float, help="seconds of each load before its window (2; quick 1)")
    add("--recovery", type=float, default=8.0, help="seconds watched after the 10x surge (8)")
    add("--deadline", type=float, default=1.0, help="client deadline in seconds (1)")
    add("--max-connections", type=int, default=4000, help="generator's connection cap (4000)")
    add("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn (2)")
    add("--threads", type=int, default=16, help="MINIAPP_THREADS for gunicorn (16, as deployed)")
    add(
        "--gunicorn-args",
        default="",
        help="more gunicorn arguments for all three servers, e.g. '--backlog 64' (experiments)",
    )
    add("--abuser-factor", type=float, default=100.0, help="abuser's rate / per-user quota")
    add(
        "--capacity",
        type=float,
        default=0.0,
        help="skip the searches: use this B for every configuration",
    )
    add(
        "--pin",
        choices=("split", "none"),
        default="split",
        help="split: generator on CPU 0, the servers on the others; none: no pinning",
    )
    add(
        "--generator-max",
        action="store_true",
        help="only measure the generator: its top rate against a trivial server",
    )
    add("--show-app-log", action="store_true", help="print the protected app's log at exit")
    args = parser.parse_args(argv)
    quick = args.quick
    args.users = args.users or (5_000 if quick else 10_000)
    args.measure = args.measure or (4.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    if args.users < 20 or args.measure <= 0 or args.deadline <= 0:
        parser.error("--users must be at least 20, --measure and --deadline positive")
    chosen = {c.strip() for c in args.configs.split(",") if c.strip()}
    if not chosen or chosen - set(CONFIGS):
        parser.error(f"--configs: some of {', '.join(CONFIGS)}, not {args.configs!r}")
    args.configs = [c for c in CONFIGS if c in chosen]  # groups in order, protected ones first
    return args


def user_quota() -> report.Quota:
    """The per-user quota the app starts with (config/*.toml, then MINIAPP_OVERLOAD__*), and
    how many users the edge lets one address stand for (``EDGE.ADDRESS_USERS``)."""
    from flask import Config

    from miniapp_api.edge.settings import edge_settings
    from miniapp_api.settings import load_config

    config = Config(str(ROOT))
    load_config(config)
    section = config.get("OVERLOAD", {})
    return report.Quota(
        float(section.get("USER_RATE", 5.0)),
        float(section.get("USER_BURST", 20)),
        edge_settings(config).address_users,
    )


def sheddable_path(port: int) -> str:
    """``/api/v1/results/history`` if the app serves it, else the stand-in ``/api/v1/me``.
    Asked of the route itself (401 without a token, 404 where it does not exist): the API
    document is not public on a staging node."""
    found = (p for p in SHEDDABLE_PATHS if http_json(port, "GET", p)[0] != 404)
    return next(found, SHEDDABLE_PATHS[-1])


def requests(users: Sequence[world.User], path: str) -> list[bytes]:
    return [
        openloop.get(path, {"Authorization": f"Bearer {u.token}", "X-Client-Channel": u.channel})
        for u in users
    ]


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    own_cpus, app_cpus = cpu_sets(args.pin)
    if args.generator_max:
        return generator_only(args, own_cpus, app_cpus)
    report.header(args, own_cpus, app_cpus)
    results = guarded("overload", lambda stack: run(stack, args, own_cpus, app_cpus))
    return results if isinstance(results, int) else report.final(results)


def generator_only(
    args: argparse.Namespace, own_cpus: set[int] | None, app_cpus: set[int] | None
) -> int:
    """The generator's top rate against the trivial server (on the app CPU)."""
    print(f"bench/overload: the open-loop generator alone ({openloop.loop_name()})")
    timing = Timing(args.warmup, args.measure, 0, 0, 0, args.deadline, args.max_connections)
    token = "x" * 43  # the size of a real session token
    request = openloop.get(CRITICAL_PATH, {"Authorization": f"Bearer {token}"})
    with ExitStack() as stack:
        echo = start_echo(stack, app_cpus)
        if own_cpus is not None:
            os.sched_setaffinity(0, own_cpus)
        best = generator_max(echo, [request], timing, say)
    print(f"generator max: {best:.0f}/s")
    return 0


def run(
    stack: ExitStack,
    args: argparse.Namespace,
    own_cpus: set[int] | None,
    app_cpus: set[int] | None,
) -> report.Results:
    """Set up (clean-ups go on ``stack``), find the capacities, run every scenario."""
    started = time.monotonic()
    configs: list[str] = args.configs
    if any(name in FRONTED for name in configs):
        haproxy_executable()  # before minutes of set-up: fail now if it is missing
    database, keys, crypto = world.scratch_world(
        stack, ADMIN_DATABASE_URL, "bench_overload", REDIS_URL
    )
    say(f"  set-up: {args.users:,} residents into {database.name}, Redis {REDIS_URL}")
    users = world.build(database.url, REDIS_URL, crypto, args.users, say)
    ours, bare, hello = start_apps(
        stack,
        database.url,
        REDIS_URL,
        keys,
        args.workers,
        args.threads,
        app_cpus,
        shlex.split(args.gunicorn_args),
    )
    servers = {"protected": ours, "unprotected": bare}
    if "front-nodoor" in configs:
        servers["protected-nodoor"] = start_without_door(
            stack, ours, app_cpus, shlex.split(args.gunicorn_args)
        )
    edge_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-edge-")))
    for name in [name for name in configs if name in FRONTED]:
        servers[name] = start_front(
            stack,
            name,
            servers[FRONTED[name]],
            slots=args.workers * args.threads,
            cpus=app_cpus,
            directory=edge_dir,
        )
    if args.show_app_log:
        stack.callback(lambda: print(ours.child.log_text()))
    if own_cpus is not None:
        os.sched_setaffinity(0, own_cpus)
    shed_path = sheddable_path(ours.port)
    abuser, others = users[0], users[1:]
    quota = user_quota()
    direct = Load(
        critical=requests(others, CRITICAL_PATH),
        sheddable=requests(others, shed_path),
        abuser=requests([abuser], CRITICAL_PATH),
        hello=requests(others[:1000], "/hello"),
    )
    # Through the front door clients come from many addresses (HAProxy counts per address).
    fronted = replace(
        direct,
        sources=addresses(len(others), quota.address_users),
        abuser_sources=[ABUSER_ADDRESS],
    )
    loads = {name: fronted if name in FRONTED else direct for name in configs}
    say(
        f"  up in {time.monotonic() - started:.0f}s; sheddable route: {shed_path}; "
        f"per-user quota {quota.rate:g}/s (burst {quota.burst:g}); admission control in this tree: "
        f"{'yes' if (ROOT / 'miniapp_api' / 'admission').is_dir() else 'NO (both apps alike)'}"
    )
    timing = Timing(
        warmup=args.warmup,
        measure=args.measure,
        capacity_warmup=0.5 if args.quick else 1.0,
        capacity_measure=2.0 if args.quick else 3.0,
        recovery=args.recovery,
        deadline=args.deadline,
        max_connections=args.max_connections,
    )
    results = report.Results(args=args, quota=quota, sheddable_path=shed_path, configs=configs)

    say("  capacity B (p99 < 200 ms: 99% of requests answered 2xx within 200 ms):")
    find_capacities(results, servers, loads, hello, direct, timing)

    top = max(results.b.values())
    say(f"  generator check: {10 * top:.0f}/s against a trivial server on the app CPU")
    echo = start_echo(stack, app_cpus)
    results.generator = plain(echo, [Stream("c", 10 * top, direct.critical)], timing)
    echo.child.stop()

    # Scenario by scenario, every configuration in turn: the machine's drift over the minutes
    # of a run falls on all alike. Each runs at multiples of its group's B (see find_capacities).
    labels = {"1x": "1x B", "3x": "3x B", "mixed": "2x B, half sheddable"}
    for scenario, label in labels.items():
        say(f"  {label} ({describe_b(results)})")
        for name in configs:
            b, load = results.b[name], loads[name]
            streams = {
                "1x": [load.critical_at("critical", b)],
                "3x": [load.critical_at("critical", 3 * b)],
                "mixed": [load.critical_at("critical", b), load.sheddable_at("sheddable", b)],
            }[scenario]
            results.runs.setdefault(name, {})[scenario] = plain(servers[name], streams, timing)
    abusive = args.abuser_factor * quota.rate
    say(f"  1x B alone, then with one user at {abusive:g}/s beside it")
    for name in configs:
        b, load = results.b[name], loads[name]
        normal, abuser_stream = load.critical_at("critical", b), load.abuser_at("abuser", abusive)
        results.runs[name]["abuser"] = with_abuser(servers[name], normal, abuser_stream, timing)
    say("  10x B, between B/2 before and after")
    for name in configs:
        b = results.b[name]
        results.surges[name] = surge(servers[name], loads[name], b / 2, 10 * b, timing)
        say(f"    {name} idle again {results.surges[name].run.settle_seconds:.1f}s after")
    return results


def find_capacities(
    results: report.Results,
    servers: dict[str, Server],
    loads: dict[str, Load],
    hello: Server,
    direct: Load,
    timing: Timing,
) -> None:
    """B of each group of configurations: the app without a front (protected, unprotected)
    runs at multiples of the protected app's capacity, the front door (front, front-bare) at
    multiples of the front's; each without protection at its protected sibling's B, as today.
    A group with only its unprotected member uses that one's capacity."""
    args, found = results.args, results.capacity
    if args.capacity:
        results.b = dict.fromkeys(results.configs, args.capacity)
        return
    if "protected" in results.configs:
        found["hello"] = capacity(hello, direct.hello, timing, 400, say=say)
    group_b: dict[str, float] = {}
    for name in results.configs:  # protected before unprotected, front before front-bare
        group = GROUP[name]
        start = group_b.get(group) or group_b.get("direct") or 200.0
        found[name] = capacity(
            servers[name],
            loads[name].critical,
            timing,
            max(start, 50.0),
            say=say,
            sources=loads[name].sources,
        )
        group_b.setdefault(group, found[name].rate)
    results.b = {name: group_b[GROUP[name]] for name in results.configs}
    if any(b <= 0 for b in results.b.values()):
        raise RuntimeError(f"a configuration served no rate with p99 under 200 ms: {found}")


def describe_b(results: report.Results) -> str:
    groups = {GROUP[name]: results.b[name] for name in results.configs}
    return ", ".join(f"B = {b:.0f}/s {GROUP_LABEL[g]}" for g, b in groups.items())


def addresses(count: int, per_address: int) -> list[str]:
    """A loopback address for each of ``count`` users, ``per_address`` users to one (as many as
    the edge lets one address stand for: a carrier NAT), 127.1.0.1 onwards."""
    found = []
    for i in range(count):
        group = i // max(per_address, 1)
        found.append(f"127.1.{group // 250}.{group % 250 + 1}")
    return found


if __name__ == "__main__":
    sys.exit(main())
