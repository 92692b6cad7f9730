"""Login throughput through gunicorn: WeChat at 0 ms and 100 ms of platform latency, Alipay at 0 ms.

`make bench-login` (= `.venv/bin/python bench/login.py`; ``--help`` for the knobs). One run
starts the platform emulator twice (WeChat's and Alipay's, each its own gunicorn process), a
scratch PostgreSQL database, Redis db 14 and the app under gunicorn with
``config/gunicorn.conf.py``; logs in every user of a pool once on each platform; then drives
``POST /api/v1/auth/wechat`` and ``POST /api/v1/auth/alipay`` with a closed loop of clients in
interleaved windows: WeChat with the emulated ``jscode2session`` latency alternating between
0 ms and ``--latency-ms`` (ABBA, so that the machine's drift cancels out), Alipay at 0 ms in
mirrored rounds around them (A W0 WL, WL W0 A, ...). Login codes are pre-issued, so the
measured windows touch only the app. It prints ``target alipay/wechat at 0 ms >= 0.8: <value>
<met|MISSED>`` (issue 11), and last ``ratio: <WeChat's rate at latency / at 0 ms>``, whose
target is at least 0.5 (README, "Benchmarks").

The set-up is in ``_login_setup.py`` (credentials, emulators, app, Redis), the platforms as
driven here in ``_login_platforms.py`` (login codes, latency, seeding), the emulator apps in
``_emulator_app.py`` and the table and targets in ``_login_report.py``; this module holds the
options, the window schedule and the measured run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from miniapp_api.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import ClosedLoop, Record  # noqa: E402  (after the sys.path line above)
from _login_platforms import LoginPlatform, login_platforms, seed_users  # noqa: E402
from _login_report import Phase, print_table, print_targets  # noqa: E402
from _login_setup import (  # noqa: E402
    ADMIN_DATABASE_URL,
    Credentials,
    flush_redis,
    start_app,
    start_emulators,
)
from _procs import (  # noqa: E402
    Child,
    ScratchDatabase,
    cpu_sets,
    guarded,
    machine_busy_seconds,
    tree_cpu_seconds,
)

SETTLE_SECONDS = 0.5  # after a switch, once the requests it concerns are over


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=15.0,
        help="measured seconds per platform and latency (all rounds)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds at first")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="windows per platform and latency, interleaved A W0 WL, WL W0 A, ...",
    )
    parser.add_argument(
        "--settle-max",
        type=float,
        default=5.0,
        help="after a switch, wait at most this for the requests sent before it to finish",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    parser.add_argument(
        "--latency-ms", type=int, default=100, help="WeChat's latency in its second phase"
    )
    parser.add_argument("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn")
    parser.add_argument(
        "--threads", type=int, default=16, help="MINIAPP_THREADS for gunicorn (16, as deployed)"
    )
    parser.add_argument(
        "--users", type=int, default=500, help="returning users per platform (seeded first)"
    )
    parser.add_argument(
        "--new-share", type=float, default=0.1, help="share of timed logins by first-time users"
    )
    parser.add_argument(
        "--pin",
        choices=("split", "none"),
        default="split",
        help="split: load generator on CPU 0, gunicorn on the other CPUs; none: no pinning",
    )
    parser.add_argument("--show-app-log", action="store_true", help="print gunicorn's log at exit")
    args = parser.parse_args(argv)
    if args.latency_ms <= 0 or args.rounds < 1 or args.concurrency < 1 or args.duration <= 0:
        parser.error("--latency-ms, --rounds, --concurrency and --duration must be positive")
    return args


# --- the measured run --------------------------------------------------------------------------
Slot = tuple[str, int]  # what one window measures: (platform name, its latency in ms)


@dataclass(frozen=True)
class Window:
    slot: Slot
    since: float  # its loop's start or latency switch: requests sent earlier do not count
    start: float
    end: float
    app_cpu: float
    emulator_cpu: float
    machine_busy: float
    machine_total: float
    client_cpu: float
    discarded: int


def schedule(latency_ms: int, rounds: int) -> list[Slot]:
    """Mirrored rounds (A, W0, WL), (WL, W0, A), ...: A is Alipay at 0 ms, W0 / WL WeChat.

    WeChat alone keeps its ABBA order (0, L, L, 0, 0, L, ...), and in every two rounds the
    three kinds of window share one centre in time, so slow drift of the machine cancels out of
    both ratios. Neighbours of one kind (WL WL, A A) run as one stretch: one switch fewer.
    """
    order: list[Slot] = []
    for i in range(rounds):
        one = [("alipay", 0), ("wechat", 0), ("wechat", latency_ms)]
        order += one if i % 2 == 0 else one[::-1]
    return order


def codes_needed(args: argparse.Namespace, platform: str, rate: float) -> int:
    """Login codes enough for ``platform``'s share of the run, at up to 4x ``rate`` logins/s."""
    windows = sum(1 for name, _ in schedule(args.latency_ms, args.rounds) if name == platform)
    seconds: float = args.warmup + windows * (args.duration / args.rounds + 2.0)  # settle ~1-2 s
    concurrency: int = args.concurrency
    # Generous: codes are cheap, and a run that runs dry is void. At L ms a closed loop cannot
    # exceed concurrency / L; the 0 ms rate is usually above the cold seeding rate.
    return math.ceil(4 * max(rate, 50.0) * seconds) + 10 * concurrency


def measure_window(
    slot: Slot, since: float, seconds: float, app: Child, emulators: Sequence[Child]
) -> Window:
    def emulators_cpu() -> float:
        return sum(tree_cpu_seconds(emulator.pid) for emulator in emulators)

    app0, emu0 = tree_cpu_seconds(app.pid), emulators_cpu()
    discarded0 = pool_full_warnings(app)
    busy0, total0 = machine_busy_seconds()
    client0, start = time.process_time(), time.monotonic()
    time.sleep(seconds)
    end, client1 = time.monotonic(), time.process_time()
    busy1, total1 = machine_busy_seconds()
    return Window(
        slot,
        since,
        start,
        end,
        tree_cpu_seconds(app.pid) - app0,
        emulators_cpu() - emu0,
        busy1 - busy0,
        total1 - total0,
        client1 - client0,
        pool_full_warnings(app) - discarded0,
    )


def pool_full_warnings(app: Child) -> int:
    """urllib3's "Connection pool is full, discarding connection" lines in the app's log so far.

    Each is a platform connection opened because the pool had none free, then thrown away.
    """
    return app.log_text().count("Connection pool is full")


def run_interleaved(
    args: argparse.Namespace,
    app: tuple[Child, int],
    emulators: Sequence[Child],
    platforms: Mapping[str, LoginPlatform],
    bodies: Mapping[str, deque[bytes]],
) -> tuple[list[Phase], float]:
    """Windows cut out of closed loops: the running platform's loop goes on across its latency
    switches; a switch of platform stops it (each client finishes its request) and starts the
    other platform's.

    Returns the phases (WeChat at 0 ms, WeChat at the latency, Alipay at 0 ms) and the client
    CPU seconds in all windows.
    """
    order = schedule(args.latency_ms, args.rounds)
    window = args.duration / args.rounds
    print(
        f"  {len(order)} windows of {window:g}s: "
        f"{', '.join(f'{name} {ms} ms' for name, ms in order)}",
        flush=True,
    )

    latency_now = dict.fromkeys(platforms, 0)
    for platform in platforms.values():
        platform.set_latency(0)

    def start_loop(name: str) -> tuple[ClosedLoop, float]:
        loop = ClosedLoop(app[1], platforms[name].login_path, bodies[name], args.concurrency)
        since = time.monotonic()
        loop.start()
        return loop, since

    running = order[0][0]
    loop, since = start_loop(running)
    records: list[Record] = []
    windows: list[Window] = []
    try:
        time.sleep(args.warmup)
        for name, latency_ms in order:
            if name != running:
                records += loop.stop()  # each client finishes its request in flight
                if latency_ms != latency_now[name]:
                    platforms[name].set_latency(latency_ms)  # nothing of it is in flight now
                    latency_now[name] = latency_ms
                running = name
                loop, since = start_loop(name)
                # Settle: the clients' first requests, all sent at once, have finished.
                time.sleep(0.1)
                loop.wait_for_in_flight(since + 0.1, since + args.settle_max)
                time.sleep(SETTLE_SECONDS)
            elif latency_ms != latency_now[name]:
                platforms[name].set_latency(latency_ms)
                latency_now[name], since = latency_ms, time.monotonic()
                # Settle: every request sent under the old latency has finished, then a little.
                loop.wait_for_in_flight(since, since + args.settle_max)
                time.sleep(SETTLE_SECONDS)
            slot = (name, latency_ms)
            windows.append(measure_window(slot, since, window, app[0], emulators))
            if loop.ran_dry_at is not None:
                raise RuntimeError(f"the pre-issued {name} login codes ran out; this run is void")
    finally:
        records += loop.stop()
    slots: list[Slot] = [("wechat", 0), ("wechat", args.latency_ms), ("alipay", 0)]
    phases = {slot: Phase(*slot) for slot in slots}
    for w in windows:
        phase = phases[w.slot]
        before = phase.tally.ok
        # Only one loop runs at a time and ``since`` is at or after its start, so a window
        # counts only its own platform's requests.
        phase.tally.add(records, w.since, w.start, w.end)
        phase.window_rates.append((phase.tally.ok - before) / (w.end - w.start))
        phase.app_cpu += w.app_cpu
        phase.emulator_cpu += w.emulator_cpu
        phase.machine_busy += w.machine_busy
        phase.machine_total += w.machine_total
        phase.discarded += w.discarded
    return [phases[slot] for slot in slots], sum(w.client_cpu for w in windows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    own_cpus, app_cpus = cpu_sets(args.pin)

    print(
        f"bench/login: login throughput, WeChat at 0 ms vs {args.latency_ms} ms platform "
        "latency, Alipay at 0 ms"
    )
    print(
        f"  gunicorn gthread (config/gunicorn.conf.py): MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}\n"
        f"  load: {args.concurrency} closed-loop clients (keep-alive), warm-up {args.warmup:g}s, "
        f"then {args.duration:g}s measured per platform and latency in {args.rounds} rounds"
    )
    print(
        "  MINIAPP_LOGGING__LEVEL=WARNING (no access log lines); on each platform "
        f"{1 - args.new_share:.0%} returning users (pool of {args.users}), "
        f"{args.new_share:.0%} first-time users"
    )
    if own_cpus is not None and app_cpus is not None:
        print(
            f"  pinning: gunicorn on CPU {','.join(map(str, sorted(app_cpus)))}; load "
            f"generator and emulators on CPU {','.join(map(str, sorted(own_cpus)))}; PostgreSQL "
            "and Redis unpinned"
        )
    else:
        print("  pinning: none")

    outcome = guarded("login", lambda stack: run(stack, args, own_cpus, app_cpus))
    if isinstance(outcome, int):
        return outcome
    phases, client_cpu = outcome
    print_table(phases, args.concurrency, client_cpu)
    print_targets(phases)
    return 0


def run(
    stack: ExitStack,
    args: argparse.Namespace,
    own_cpus: set[int] | None,
    app_cpus: set[int] | None,
) -> tuple[list[Phase], float]:
    """Start everything (clean-ups go on ``stack``), seed the users, run the interleaved loop."""
    started = time.monotonic()
    credentials = Credentials.generate()
    emulators = start_emulators(stack, credentials, own_cpus)
    emulator_ports = {name: port for name, (_, port) in emulators.items()}
    database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_login")
    stack.callback(database.drop)
    upgrade(database.url)
    flush_redis()
    stack.callback(flush_redis)
    app = start_app(
        stack,
        args,
        database_url=database.url,
        credentials=credentials,
        emulator_ports=emulator_ports,
        cpus=app_cpus,
    )
    if args.show_app_log:
        stack.callback(lambda: print(app[0].log_text()))
    if own_cpus is not None:
        os.sched_setaffinity(0, own_cpus)
    print(
        f"  up in {time.monotonic() - started:.1f}s: database {database.name}, app :{app[1]}, "
        f"emulators :{emulator_ports['wechat']} (wechat) :{emulator_ports['alipay']} (alipay)",
        flush=True,
    )

    platforms = login_platforms(emulator_ports)
    bodies: dict[str, deque[bytes]] = {}
    for name, platform in platforms.items():
        pool = [platform.new_subject() for _ in range(args.users)]
        rate = seed_users(app[1], platform, pool, args.concurrency)
        count = codes_needed(args, name, rate)
        bodies[name] = deque(
            platform.issue_codes(platform.mixed_subjects(pool, count, args.new_share))
        )
        print(f"  {name}: {count} login codes issued", flush=True)
    children = [child for child, _ in emulators.values()]
    return run_interleaved(args, app, children, platforms, bodies)


if __name__ == "__main__":
    sys.exit(main())
