"""Login throughput through gunicorn with 0 ms and with 100 ms of platform latency (DESIGN §13).

`make bench-login` (= `.venv/bin/python bench/login.py`). One run starts the platform emulator
(its own process), a scratch PostgreSQL database, Redis db 14 and the app under gunicorn with
``config/gunicorn.conf.py``, then drives ``POST /api/v1/auth/wechat`` with a closed loop of
clients: first with no emulated latency, then with ``--latency-ms`` on ``jscode2session``.
The last line is ``ratio: <rate at latency / rate at 0 ms>``; the target is at least 0.5.
WeChat only: Alipay is left disabled (empty MINIAPP_ALIPAY__APP_ID).
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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import WindowResult, closed_loop  # noqa: E402  (after the sys.path line above)
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


@dataclass(frozen=True)
class PhaseReport:
    name: str
    latency_ms: int
    result: WindowResult
    app_cpu: float  # CPU seconds during the window
    emulator_cpu: float
    machine_busy: float  # fraction of all cores busy during the window


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    parser.add_argument("--latency-ms", type=int, default=100, help="latency of the second phase")
    parser.add_argument("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn")
    parser.add_argument("--threads", type=int, default=32, help="MINIAPP_THREADS for gunicorn")
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
    return parser.parse_args(argv)


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


def start_emulator(stack: ExitStack, app_id: str, app_secret: str) -> tuple[Child, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
    env |= {"BENCH_WECHAT_APP_ID": app_id, "BENCH_WECHAT_APP_SECRET": app_secret}
    child = Child(
        "emulator",
        [sys.executable, str(ROOT / "bench" / "_emulator_main.py")],
        env,
        ROOT,
        stdout_pipe=True,
    )
    stack.callback(child.close)
    stack.callback(child.stop)
    base_url = child.read_line(timeout=30)
    port = int(base_url.rsplit(":", 1)[1])
    wait_healthy(port, "/_emulator/messages", child, timeout=10)
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
    env |= {
        "MINIAPP_ENV": "production",
        "MINIAPP_BIND": f"127.0.0.1:{port}",
        "MINIAPP_WORKERS": str(args.workers),
        "MINIAPP_THREADS": str(args.threads),
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": REDIS_URL,
        "MINIAPP_SECURITY__DATA_KEY": b64_key(),
        "MINIAPP_SECURITY__INDEX_KEY": b64_key(),
        "MINIAPP_WECHAT__APP_ID": app_id,
        "MINIAPP_WECHAT__APP_SECRET": app_secret,
        "MINIAPP_WECHAT__API_BASE_URL": f"http://127.0.0.1:{emulator_port}",
        "MINIAPP_ALIPAY__APP_ID": "",
        # WARNING: no per-request access line, so logging costs the app no CPU in the bench.
        "MINIAPP_LOGGING__LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
            "wsgi:app"]
    if cpus is not None:
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    child = Child("gunicorn", argv, env, ROOT)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/healthz", child, timeout=60)
    return child, port


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


# --- codes from the emulator -------------------------------------------------------------------
def issue_codes(emulator_port: int, openids: Sequence[str], threads: int = 8) -> list[bytes]:
    """One ``wx.login`` code per openid (``POST /_emulator/wechat/login``), as login bodies."""
    import http.client

    bodies: list[bytes] = [b""] * len(openids)
    failures: list[str] = []

    def work(indexes: range) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", emulator_port, timeout=10)
        try:
            for i in indexes:
                connection.request(
                    "POST",
                    "/_emulator/wechat/login",
                    json.dumps({"openid": openids[i]}),
                    {"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                raw = response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}")
                    return
                bodies[i] = json.dumps({"code": json.loads(raw)["code"]}).encode()
        finally:
            connection.close()

    workers = [
        threading.Thread(target=work, args=(range(n, len(openids), threads),))
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"the emulator refused to issue login codes: {failures[0]}")
    return bodies


def new_openid() -> str:
    return "o" + secrets.token_urlsafe(20)[:27]


def timed_openids(pool: Sequence[str], count: int, new_share: float) -> list[str]:
    """``count`` openids: ``new_share`` of them first-time users, the rest drawn from ``pool``."""
    rng = secrets.SystemRandom()
    return [new_openid() if rng.random() < new_share else rng.choice(pool) for _ in range(count)]


def set_latency(emulator_port: int, latency_ms: int) -> None:
    status, _ = http_json(
        emulator_port,
        "POST",
        "/_emulator/faults",
        # errcode None: the fault only sleeps (EmulatorState.roll_fault), it never errs.
        {"platform": "wechat", "api": "jscode2session", "latency_ms": latency_ms},
    )
    if status != 200:
        raise RuntimeError(f"the emulator refused the latency fault (HTTP {status})")


# --- phases ------------------------------------------------------------------------------------
@contextmanager
def cpu_window(
    app: Child, emulator: Child
) -> Iterator[Callable[[], tuple[float, float, float]]]:
    """Measure the app's and emulator's CPU seconds and the machine's busy share over a block."""
    app0, emu0 = tree_cpu_seconds(app.pid), tree_cpu_seconds(emulator.pid)
    busy0, total0 = machine_busy_seconds()
    measured: list[float] = []
    yield lambda: (measured[0], measured[1], measured[2])
    busy1, total1 = machine_busy_seconds()
    measured += [
        tree_cpu_seconds(app.pid) - app0,
        tree_cpu_seconds(emulator.pid) - emu0,
        (busy1 - busy0) / max(total1 - total0, 1e-9),
    ]


def run_phase(
    name: str,
    latency_ms: int,
    args: argparse.Namespace,
    app: tuple[Child, int],
    emulator: tuple[Child, int],
    pool: Sequence[str],
    expected_rate: float,
) -> PhaseReport:
    """Set the latency, pre-issue enough codes, then warm up and measure one closed loop."""
    set_latency(emulator[1], latency_ms)
    if latency_ms:  # a closed loop cannot go faster than concurrency / latency
        expected_rate = min(expected_rate, args.concurrency / (latency_ms / 1000))
    count = math.ceil(expected_rate * (args.warmup + args.duration)) + 10 * args.concurrency
    started = time.monotonic()
    bodies = deque(issue_codes(emulator[1], timed_openids(pool, count, args.new_share)))
    print(f"  {name}: {count} codes issued in {time.monotonic() - started:.1f}s", flush=True)
    # The warm-up is not in the CPU window; closed_loop sleeps through it before measuring.
    warm_until = time.monotonic() + args.warmup
    result_box: list[WindowResult] = []
    runner = threading.Thread(
        target=lambda: result_box.append(
            closed_loop(
                app[1],
                LOGIN_PATH,
                bodies,
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
            )
        )
    )
    runner.start()
    time.sleep(max(0.0, warm_until - time.monotonic()))
    with cpu_window(app[0], emulator[0]) as measured:
        time.sleep(args.duration)
    runner.join()
    app_cpu, emulator_cpu, busy = measured()
    return PhaseReport(name, latency_ms, result_box[0], app_cpu, emulator_cpu, busy)


def seed_users(
    args: argparse.Namespace, app_port: int, emulator_port: int, pool: Sequence[str]
) -> float:
    """Log every pool user in once (so later logins are returning ones); return the rate."""
    bodies = deque(issue_codes(emulator_port, pool))
    started = time.monotonic()
    result = closed_loop(
        app_port, LOGIN_PATH, bodies, concurrency=args.concurrency, warmup=0.0, duration=60.0
    )
    elapsed = time.monotonic() - started
    if result.failures:
        raise RuntimeError(f"seeding users failed: {dict(result.failures)}")
    rate = result.ok / elapsed
    print(f"  seeded {result.ok} returning users in {elapsed:.1f}s ({rate:.0f} logins/s, cold)")
    return rate


# --- output ------------------------------------------------------------------------------------
def print_table(reports: Sequence[PhaseReport], concurrency: int) -> None:
    print()
    header = (
        f"{'phase':<9} {'latency':>8} {'clients':>7} {'logins/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>8}   {'app cpu':>7} {'emu cpu':>7} {'client':>7} {'machine':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in reports:
        res = r.result
        errors = ",".join(f"{k}:{v}" for k, v in sorted(res.failures.items())) or "0"
        print(
            f"{r.name:<9} {r.latency_ms:>5} ms {concurrency:>7} {res.rate:>9.1f} "
            f"{res.percentile_ms(50):>8.1f} {res.percentile_ms(99):>8.1f} {errors:>8}   "
            f"{r.app_cpu / res.seconds:>6.0%} {r.emulator_cpu / res.seconds:>7.0%} "
            f"{res.client_cpu_seconds / res.seconds:>7.0%} {r.machine_busy:>7.0%}"
        )
        if res.exhausted:
            print(f"  WARNING: {r.name} ran out of pre-issued codes; its rate is not valid")
    print("  (cpu columns: share of one core during the measured window; machine: of all cores)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the ExitStack stops every child and drops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    own_cpus, app_cpus = cpu_sets(args.pin)
    app_id, app_secret = "wx" + secrets.token_hex(8), non_json_secret()
    pool = [new_openid() for _ in range(args.users)]

    print(f"bench/login: login throughput, 0 ms vs {args.latency_ms} ms platform latency")
    print(
        f"  gunicorn gthread: MINIAPP_WORKERS={args.workers} MINIAPP_THREADS={args.threads}; "
        f"clients={args.concurrency} (closed loop, keep-alive); warm-up {args.warmup:g}s + "
        f"{args.duration:g}s measured per phase"
    )
    print(
        "  WeChat only (Alipay disabled); MINIAPP_LOGGING__LEVEL=WARNING (no access log lines); "
        f"{1 - args.new_share:.0%} returning users from a pool of {args.users}, "
        f"{args.new_share:.0%} first-time users"
    )
    if own_cpus is not None and app_cpus is not None:
        print(f"  pinning: load generator on CPU {sorted(own_cpus)}, gunicorn on CPU "
              f"{sorted(app_cpus)}; emulator, PostgreSQL, Redis unpinned")
    else:
        print("  pinning: none")

    reports: list[PhaseReport] = []
    with ExitStack() as stack:
        started = time.monotonic()
        emulator = start_emulator(stack, app_id, app_secret)
        database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_login")
        stack.callback(database.drop)
        from miniapp_api.migrate import upgrade

        upgrade(database.url)
        flush_redis()
        stack.callback(flush_redis)
        app = start_app(stack, args, database.url, emulator[1], app_id, app_secret, app_cpus)
        if own_cpus is not None:
            os.sched_setaffinity(0, own_cpus)
        if args.show_app_log:
            stack.callback(lambda: print(app[0].log_text()))
        print(f"  up in {time.monotonic() - started:.1f}s: database {database.name}, "
              f"app :{app[1]}, emulator :{emulator[1]}", flush=True)

        rate = seed_users(args, app[1], emulator[1], pool)
        # The first phase is warm and usually faster than the cold seed: issue generously.
        reports.append(run_phase("baseline", 0, args, app, emulator, pool, 3 * rate + 100))
        baseline = reports[0].result.rate
        reports.append(
            run_phase("latency", args.latency_ms, args, app, emulator, pool, 1.5 * baseline + 100)
        )
        pool_warnings = app[0].log_text().count("Connection pool is full")
    print_table(reports, args.concurrency)
    if pool_warnings:
        print(f"  note: the app logged {pool_warnings} urllib3 'Connection pool is full' warnings")
    ratio = reports[1].result.rate / baseline if baseline else 0.0
    print(f"ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
