"""Login throughput through gunicorn with 0 ms and with 100 ms of platform latency.

`make bench-login` (= `.venv/bin/python bench/login.py`; ``--help`` for the knobs). One run
starts the platform emulator (its own gunicorn process), a scratch PostgreSQL database, Redis
db 14 and the app under gunicorn with ``config/gunicorn.conf.py``; logs in every user of a pool
once; then drives ``POST /api/v1/auth/wechat`` with one continuous closed loop of clients while
the emulated ``jscode2session`` latency alternates between 0 ms and ``--latency-ms`` (ABBA
windows, so that the machine's drift cancels out). Login codes are pre-issued, so the measured
windows touch only the app. The last line is ``ratio: <rate at latency / rate at 0 ms>``;
the target is at least 0.5 (README, "Benchmarks"). WeChat only: Alipay is left disabled.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from miniapp_api.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import ClosedLoop, Tally  # noqa: E402  (after the sys.path line above)
from _procs import (  # noqa: E402
    Child,
    ScratchDatabase,
    free_port,
    http_json,
    machine_busy_seconds,
    tree_cpu_seconds,
    wait_healthy,
)

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOGIN_PATH = "/api/v1/auth/wechat"
TARGET = 0.5  # README, "Benchmarks": login at 100 ms platform latency >= 0.5 x the rate at 0 ms
# Each call sleeping in the emulated latency holds one emulator thread: at 100 ms and 64 clients
# at most 64 are in flight, so 128 threads are never the limit.
EMULATOR_THREADS = 128


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--duration", type=float, default=15.0, help="measured seconds per latency (all rounds)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds at first")
    parser.add_argument(
        "--rounds", type=int, default=4, help="windows per latency, interleaved 0, L, L, 0, ..."
    )
    parser.add_argument(
        "--settle-max",
        type=float,
        default=5.0,
        help="after a latency switch, wait at most this for older requests to finish",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    parser.add_argument("--latency-ms", type=int, default=100, help="latency of the second phase")
    parser.add_argument("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn")
    parser.add_argument(
        "--threads", type=int, default=16, help="MINIAPP_THREADS for gunicorn (16, as deployed)"
    )
    parser.add_argument("--users", type=int, default=500, help="returning users (seeded first)")
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


# --- set-up ------------------------------------------------------------------------------------
def b64_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def non_json_secret() -> str:
    """A 32-hex-character app secret that Flask's prefixed-env loader keeps as a string.

    (``from_prefixed_env`` JSON-decodes values: an all-digit hex secret would become an int.)
    """
    return "a" + secrets.token_hex(16)[1:]


def cpu_sets(mode: str) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for this process, CPUs for gunicorn), or Nones when not pinning."""
    available = sorted(os.sched_getaffinity(0))
    if mode == "none" or len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


def start_emulator(
    stack: ExitStack, app_id: str, app_secret: str, cpus: set[int] | None
) -> tuple[Child, int]:
    """The emulator under gunicorn gthread: one process (its state is in memory), many threads."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIAPP_", "GUNICORN_"))}
    env |= {"BENCH_WECHAT_APP_ID": app_id, "BENCH_WECHAT_APP_SECRET": app_secret}
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        str(EMULATOR_THREADS),
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
        "--bind",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(ROOT / "bench"),
        "_emulator_app:create()",
    ]
    child = Child("emulator", argv, env, ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/_emulator/messages", child, timeout=30)
    return child, port


def start_app(
    stack: ExitStack,
    args: argparse.Namespace,
    database_url: str,
    emulator_port: int,
    app_id: str,
    app_secret: str,
    cpus: set[int] | None,
) -> tuple[Child, int]:
    port = free_port()
    # MINIAPP_* tuning variables of the caller's environment pass (e.g. DATABASE__POOL_SIZE);
    # everything that places the app in this bench is overridden.
    placed = {
        "MINIAPP_ENV": "production",
        "MINIAPP_BIND": f"127.0.0.1:{port}",
        "MINIAPP_WORKERS": str(args.workers),
        "MINIAPP_THREADS": str(args.threads),
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": REDIS_URL,
        "MINIAPP_SECURITY__DATA_KEY": b64_key(),
        "MINIAPP_SECURITY__INDEX_KEY": b64_key(),
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps([{"kid": "b1", "private_key": b64_key()}]),
        "MINIAPP_WECHAT__APP_ID": app_id,
        "MINIAPP_WECHAT__APP_SECRET": app_secret,
        "MINIAPP_WECHAT__API_BASE_URL": f"http://127.0.0.1:{emulator_port}",
        "MINIAPP_ALIPAY__APP_ID": "",
        # WARNING: no per-request access line, so logging costs the app no CPU in the bench.
        "MINIAPP_LOGGING__LEVEL": "WARNING",
        # What is measured is how well threads hide platform latency, with 64 closed-loop clients
        # that keep the CPU saturated on purpose; admission control would (rightly) refuse part
        # of that, and is measured by bench/overload.py. Its gunicorn worker (the door) stays.
        "MINIAPP_OVERLOAD__ENABLED": "false",
    }
    passed = sorted(k for k in os.environ if k.startswith("MINIAPP_") and k not in placed)
    if passed:
        print(f"  from the environment: {', '.join(passed)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")} | placed
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "config" / "gunicorn.conf.py"),
        "wsgi:app",
    ]
    child = Child("gunicorn", argv, env, ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/healthz", child, timeout=60)
    return child, port


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.flushdb(asynchronous=True)
    finally:
        client.close()


# --- codes from the emulator -------------------------------------------------------------------
def issue_codes(emulator_port: int, openids: Sequence[str]) -> list[bytes]:
    """One single-use ``wx.login`` code per openid, as ready-made login request bodies."""
    codes: list[str] = []
    for chunk in range(0, len(openids), 5000):
        status, answer = http_json(
            emulator_port,
            "POST",
            "/_bench/wechat/logins",
            {"openids": list(openids[chunk : chunk + 5000])},
            timeout=60,
        )
        if status != 200 or not isinstance(answer, dict):
            raise RuntimeError(f"the emulator refused to issue login codes (HTTP {status})")
        codes += answer["codes"]
    return [json.dumps({"code": code}).encode() for code in codes]


def new_openid() -> str:
    """A random openid of the real shape (28 characters, starting with ``o``)."""
    return "o" + secrets.token_urlsafe(20)[:27]


def mixed_openids(pool: Sequence[str], count: int, new_share: float) -> list[str]:
    """``count`` openids: ``new_share`` of them first-time users, the rest drawn from ``pool``."""
    rng = secrets.SystemRandom()
    return [new_openid() if rng.random() < new_share else rng.choice(pool) for _ in range(count)]


def set_latency(emulator_port: int, latency_ms: int) -> None:
    status, _ = http_json(
        emulator_port,
        "POST",
        "/_emulator/faults",
        # No errcode: the fault only sleeps (EmulatorState.roll_fault), it never answers an error.
        {"platform": "wechat", "api": "jscode2session", "latency_ms": latency_ms},
    )
    if status != 200:
        raise RuntimeError(f"the emulator refused the latency fault (HTTP {status})")


# --- the measured run --------------------------------------------------------------------------
@dataclass
class Phase:
    """Everything measured at one latency, summed over its windows."""

    latency_ms: int
    tally: Tally = field(default_factory=Tally)
    window_rates: list[float] = field(default_factory=list)
    app_cpu: float = 0.0  # CPU seconds in the windows
    emulator_cpu: float = 0.0
    machine_busy: float = 0.0  # busy CPU seconds of the whole machine in the windows
    machine_total: float = 0.0
    discarded: int = 0  # platform connections the app threw away (urllib3 pool full)


@dataclass(frozen=True)
class Window:
    latency_ms: int
    since: float  # when this latency was set: requests sent earlier do not count
    start: float
    end: float
    app_cpu: float
    emulator_cpu: float
    machine_busy: float
    machine_total: float
    client_cpu: float
    discarded: int


def schedule(latency_ms: int, rounds: int) -> list[int]:
    """ABBA order (0, L, L, 0, 0, L, ...): slow drift of the machine cancels out of the ratio."""
    order: list[int] = []
    for i in range(rounds):
        order += [0, latency_ms] if i % 2 == 0 else [latency_ms, 0]
    return order


def measure_window(
    latency_ms: int, since: float, seconds: float, app: Child, emulator: Child
) -> Window:
    app0, emu0 = tree_cpu_seconds(app.pid), tree_cpu_seconds(emulator.pid)
    discarded0 = pool_full_warnings(app)
    busy0, total0 = machine_busy_seconds()
    client0, start = time.process_time(), time.monotonic()
    time.sleep(seconds)
    end, client1 = time.monotonic(), time.process_time()
    busy1, total1 = machine_busy_seconds()
    return Window(
        latency_ms,
        since,
        start,
        end,
        tree_cpu_seconds(app.pid) - app0,
        tree_cpu_seconds(emulator.pid) - emu0,
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
    emulator: tuple[Child, int],
    rate: float,
    pool: Sequence[str],
) -> tuple[Phase, Phase, float]:
    """One continuous closed loop; the latency alternates, windows are cut between switches.

    Returns (the 0 ms phase, the latency phase, client CPU seconds in all windows).
    """
    order = schedule(args.latency_ms, args.rounds)
    window = args.duration / args.rounds
    total = args.warmup + len(order) * (window + 2.0)  # a settle takes ~1-2 s
    # Generous: codes are cheap, and a run that runs dry is void. At L ms a closed loop cannot
    # exceed concurrency / L; the 0 ms rate is usually above the cold seeding rate.
    count = math.ceil(4 * max(rate, 50.0) * total) + 10 * args.concurrency
    bodies = deque(issue_codes(emulator[1], mixed_openids(pool, count, args.new_share)))
    print(
        f"  {count} login codes issued; {len(order)} windows of {window:g}s: "
        f"{', '.join(f'{ms} ms' for ms in order)}",
        flush=True,
    )

    set_latency(emulator[1], 0)
    current, since = 0, time.monotonic()
    loop = ClosedLoop(app[1], LOGIN_PATH, bodies, args.concurrency)
    windows: list[Window] = []
    try:
        loop.start()
        time.sleep(args.warmup)
        for latency_ms in order:
            if latency_ms != current:
                set_latency(emulator[1], latency_ms)
                current, since = latency_ms, time.monotonic()
                # Settle: every request sent under the old latency has finished, then a little.
                loop.wait_for_in_flight(since, since + args.settle_max)
                time.sleep(0.5)
            windows.append(measure_window(latency_ms, since, window, app[0], emulator[0]))
            if loop.ran_dry_at is not None:
                raise RuntimeError("the pre-issued login codes ran out; this run is void")
    finally:
        records = loop.stop()
    phases = {0: Phase(0), args.latency_ms: Phase(args.latency_ms)}
    for w in windows:
        phase = phases[w.latency_ms]
        before = phase.tally.ok
        phase.tally.add(records, w.since, w.start, w.end)
        phase.window_rates.append((phase.tally.ok - before) / (w.end - w.start))
        phase.app_cpu += w.app_cpu
        phase.emulator_cpu += w.emulator_cpu
        phase.machine_busy += w.machine_busy
        phase.machine_total += w.machine_total
        phase.discarded += w.discarded
    return phases[0], phases[args.latency_ms], sum(w.client_cpu for w in windows)


def seed_users(app_port: int, emulator_port: int, pool: Sequence[str], concurrency: int) -> float:
    """Log every pool user in once (so that later logins are returning ones); return the rate."""
    bodies = deque(issue_codes(emulator_port, pool))
    loop = ClosedLoop(app_port, LOGIN_PATH, bodies, concurrency)
    started = time.monotonic()
    loop.start()
    loop.wait_until_done(started + 60)
    records = loop.stop()
    elapsed = time.monotonic() - started
    statuses = Counter(status for _, _, status in records)
    if set(statuses) != {"200"} or statuses["200"] != len(pool):
        raise RuntimeError(f"seeding {len(pool)} users failed: {dict(statuses)}")
    rate = len(pool) / elapsed
    print(f"  seeded {len(pool)} returning users in {elapsed:.1f}s ({rate:.0f} logins/s, cold)")
    return rate


# --- output ------------------------------------------------------------------------------------
def print_table(phases: Sequence[Phase], concurrency: int, client_cpu: float) -> None:
    header = (
        f"{'phase':<9} {'latency':>8} {'clients':>7} {'logins/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>7}  {'app cpu':>7} {'emu cpu':>7} {'machine':>7} {'discards':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, p in zip(("baseline", "latency"), phases, strict=True):
        t = p.tally
        errors = ",".join(f"{k}:{v}" for k, v in sorted(t.failures.items())) or "0"
        print(
            f"{name:<9} {p.latency_ms:>5} ms {concurrency:>7} {t.rate:>9.1f} "
            f"{t.percentile_ms(50):>7.0f} {t.percentile_ms(99):>7.0f} {errors:>7}  "
            f"{p.app_cpu / t.seconds:>7.0%} {p.emulator_cpu / t.seconds:>7.0%} "
            f"{p.machine_busy / max(p.machine_total, 1e-9):>7.0%} {p.discarded:>8}"
        )
    seconds = sum(p.tally.seconds for p in phases)
    for name, p in zip(("baseline", "latency"), phases, strict=True):
        print(f"  {name} per window (logins/s): " + " ".join(f"{r:.1f}" for r in p.window_rates))
    print(
        "  app/emu cpu: share of one core used by gunicorn (master + workers) / the emulator;"
        f" machine: of all {os.cpu_count()} cores;\n  load generator: {client_cpu / seconds:.0%}"
        " of one core; errors: non-200 answers by status (conn = connection failures);\n"
        "  discards: platform connections the app opened beyond its urllib3 pool and threw away"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the ExitStack stops every child and drops the database.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    own_cpus, app_cpus = cpu_sets(args.pin)

    print(f"bench/login: login throughput, 0 ms vs {args.latency_ms} ms platform latency")
    print(
        f"  gunicorn gthread (config/gunicorn.conf.py): MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}\n"
        f"  load: {args.concurrency} closed-loop clients (keep-alive), warm-up {args.warmup:g}s, "
        f"then {args.duration:g}s measured per latency in {args.rounds} rounds"
    )
    print(
        "  WeChat only (Alipay disabled); MINIAPP_LOGGING__LEVEL=WARNING (no access log lines); "
        f"{1 - args.new_share:.0%} returning users (pool of {args.users}), "
        f"{args.new_share:.0%} first-time users"
    )
    if own_cpus is not None and app_cpus is not None:
        print(
            f"  pinning: gunicorn on CPU {','.join(map(str, sorted(app_cpus)))}; load "
            f"generator and emulator on CPU {','.join(map(str, sorted(own_cpus)))}; PostgreSQL "
            "and Redis unpinned"
        )
    else:
        print("  pinning: none")

    try:
        with ExitStack() as stack:
            try:
                baseline, latency, client_cpu = run(stack, args, own_cpus, app_cpus)
            finally:
                # A second Ctrl-C must not cut the clean-up short (processes, database).
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, signal.SIG_IGN)
    except KeyboardInterrupt:
        print("bench/login: interrupted; processes stopped, database dropped", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"bench/login: {error}", file=sys.stderr)
        return 1
    print_table((baseline, latency), args.concurrency, client_cpu)
    ratio = latency.tally.rate / baseline.tally.rate if baseline.tally.rate else 0.0
    print(f"  target: ratio >= {TARGET} ({'met' if ratio >= TARGET else 'MISSED'})")
    print(f"ratio: {ratio:.2f}")
    return 0


def run(
    stack: ExitStack,
    args: argparse.Namespace,
    own_cpus: set[int] | None,
    app_cpus: set[int] | None,
) -> tuple[Phase, Phase, float]:
    """Start everything (clean-ups go on ``stack``), seed the users, run the interleaved loop."""
    started = time.monotonic()
    app_id, app_secret = "wx" + secrets.token_hex(8), non_json_secret()
    emulator = start_emulator(stack, app_id, app_secret, own_cpus)
    database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_login")
    stack.callback(database.drop)
    upgrade(database.url)
    flush_redis()
    stack.callback(flush_redis)
    app = start_app(stack, args, database.url, emulator[1], app_id, app_secret, app_cpus)
    if args.show_app_log:
        stack.callback(lambda: print(app[0].log_text()))
    if own_cpus is not None:
        os.sched_setaffinity(0, own_cpus)
    print(
        f"  up in {time.monotonic() - started:.1f}s: database {database.name}, "
        f"app :{app[1]}, emulator :{emulator[1]}",
        flush=True,
    )

    pool = [new_openid() for _ in range(args.users)]
    rate = seed_users(app[1], emulator[1], pool, args.concurrency)
    return run_interleaved(args, app, emulator, rate, pool)


if __name__ == "__main__":
    sys.exit(main())
