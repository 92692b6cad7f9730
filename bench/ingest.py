"""Lab result ingest: 100,000 tubes of 10 into PostgreSQL and Redis, next to a bare COPY.

DESIGN §13. `make bench-ingest` (= `.venv/bin/python bench/ingest.py`; ``--help`` for the
knobs). One run creates a scratch PostgreSQL database and loads a morning of sampling with
``COPY`` (residents, accounts, tubes, samplings; not timed), then measures, in the same run:

* **COPY**: a bare ``COPY`` of as many rows of ``person_results``' shape into an unindexed
  table (and, for reference, into one with ``person_results``' indexes);
* **ours**: every tube result through the lab service the HTTP endpoint calls
  (``miniapp_api.lab.service.upload_results``), in batches of ``LAB.MAX_BATCH``, in-process:
  tube results, fan-out to person results, outbox rows and the Redis read model (db 13);
* optionally a smaller sample through HTTP (gunicorn, HMAC-signed), reported apart.

It prints the phases (rows, seconds, rows/s), where ours spends its time, the read model's
Redis memory per resident, the targets, and as its last line ``ratio: <ours / COPY rows/s>``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import io
import json
import multiprocessing
import os
import pstats
import queue
import random
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import redis
from flask import Config
from sqlalchemy.engine import make_url

from miniapp_api.lab.auth import sign
from miniapp_api.migrate import upgrade
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import LabSettings, load_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ingest_world as world_mod  # noqa: E402  (after the sys.path line above)
from _ingest_work import (  # noqa: E402
    LABELS,
    PYTHON_LABEL,
    REDIS_LABEL,
    RESULTS_PATH,
    Job,
    Tally,
    work,
    worker_main,
)
from _procs import LOOPBACK, Child, ScratchDatabase, free_port, wait_healthy  # noqa: E402

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Not BENCH_REDIS_URL: bench/login.py flushes that one (db 14).
REDIS_URL = os.environ.get("BENCH_INGEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TARGET_SECONDS = 60.0  # DESIGN §13: 1 million person results within 60 s
TARGET_PEOPLE = 1_000_000
TARGET_BYTES = 200  # the issue: read model at most 200 bytes per resident
BEIJING = timezone(timedelta(hours=8))


class BenchTimeout(RuntimeError):
    pass


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tubes", type=int, default=100_000, help="tubes ingested in-process")
    parser.add_argument("--capacity", type=int, default=10, choices=(1, 5, 10, 20))
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="tubes per upload (default: the configured LAB.MAX_BATCH)",
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=1,
        help="processes uploading batches at once (each its own connections)",
    )
    parser.add_argument("--positive-share", type=float, default=0.005, help="positive pooled tubes")
    parser.add_argument("--invalid-share", type=float, default=0.002, help="invalid tubes")
    parser.add_argument(
        "--dependent-share",
        type=float,
        default=0.1,
        help="residents also held by a relative's account (each one more outbox row)",
    )
    parser.add_argument(
        "--names",
        choices=sorted(world_mod.NAME_STYLES),
        default="zh",
        help="round and site names: zh (as the city names them) or ascii (as the tests do)",
    )
    parser.add_argument(
        "--http-tubes",
        type=int,
        default=5_000,
        help="extra tubes uploaded through gunicorn with HMAC signing (0: skip)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the in-process phase (needs --procs 1)"
    )
    parser.add_argument(
        "--max-seconds", type=int, default=1200, help="give up (and clean up) after this"
    )
    args = parser.parse_args(argv)
    if args.tubes < 1 or args.procs < 1 or args.http_tubes < 0 or args.batch < 0:
        parser.error("--tubes and --procs must be positive, --http-tubes and --batch not negative")
    if args.profile and args.procs != 1:
        parser.error("--profile needs --procs 1")
    if not 0 <= args.positive_share + args.invalid_share <= 1:
        parser.error("--positive-share + --invalid-share must be within 0..1")
    return args


def configured_lab_settings() -> LabSettings:
    """``[LAB]`` as the app would read it: config/*.toml, then MINIAPP_LAB__* variables."""
    config = Config(str(ROOT))
    load_config(config)
    lab = config.get("LAB", {})
    return LabSettings(
        max_batch=int(lab.get("MAX_BATCH", 1000)),
        timestamp_tolerance_seconds=int(lab.get("TIMESTAMP_TOLERANCE_SECONDS", 300)),
        nonce_ttl_seconds=int(lab.get("NONCE_TTL_SECONDS", 900)),
    )


def say(line: str) -> None:
    print(line, flush=True)


# --- the batches a lab sends ---------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    bodies: list[bytes]
    keys: list[str]
    outcomes: Counter[str]


def plan(
    tube_ids: Sequence[int], batch: int, args: argparse.Namespace, tested_at: datetime, seed: int
) -> Plan:
    """JSON bodies of ``batch`` tubes each, the tubes in random order (a lab's plates are not
    the order of sampling), mostly negative, some positive pools, a few invalid."""
    rng = random.Random(seed)
    order = list(tube_ids)
    rng.shuffle(order)
    stamp = tested_at.astimezone(BEIJING).isoformat()  # with its offset, as labs send it
    outcomes: Counter[str] = Counter()
    bodies: list[bytes] = []
    for start in range(0, len(order), batch):
        items = []
        for tube_id in order[start : start + batch]:
            draw = rng.random()
            if draw < args.positive_share:
                result = "positive"
            elif draw < args.positive_share + args.invalid_share:
                result = "invalid"
            else:
                result = "negative"
            outcomes[result] += 1
            items.append(
                {"tube_no": world_mod.tube_no(tube_id), "result": result, "tested_at": stamp}
            )
        bodies.append(json.dumps({"results": items}, separators=(",", ":")).encode())
    keys = [f"bench-{seed}-{i}-{secrets.token_hex(4)}" for i in range(len(bodies))]
    return Plan(bodies, keys, outcomes)


# --- phases -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    phase: str
    rows: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def psycopg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_baseline(conninfo: str, rows: int, people: int, *, indexed: bool) -> Row:
    """COPY ``rows`` rows of ``person_results``' shape into a new table; the text is made
    before the clock starts, so the time is the server's (and the socket's)."""
    table = "bench_copy_indexed" if indexed else "bench_copy_bare"
    like = "LIKE person_results INCLUDING INDEXES" if indexed else "LIKE person_results"
    tested = datetime.now(BEIJING).replace(microsecond=0).isoformat()
    chunks: list[bytes] = []
    for start in range(1, rows + 1, world_mod.CHUNK_ROWS):
        stop = min(rows + 1, start + world_mod.CHUNK_ROWS)
        chunks.append(
            "".join(
                f"{s}\t{s}\t{s * 7919 % people + 1}\t{(s - 1) // 10 + 1}\tnegative\t"
                f"{tested}\t{tested}\n"
                for s in range(start, stop)
            ).encode()
        )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} ({like})")
        try:
            started = time.monotonic()
            with conn.transaction(), conn.cursor() as cur:
                copy_sql = (
                    f"COPY {table} (id, sampling_id, resident_id, tube_id, state, tested_at,"
                    " updated_at) FROM STDIN"
                )
                with cur.copy(copy_sql) as copy:
                    for chunk in chunks:
                        copy.write(chunk)
            seconds = time.monotonic() - started
        finally:
            conn.execute(f"DROP TABLE {table}")
            conn.execute("CHECKPOINT")
    name = "COPY, person_results' indexes" if indexed else "COPY, unindexed (baseline)"
    return Row(name, rows, seconds, "reference" if indexed else "ratio denominator")


def run_ours(job: Job, procs: int, profile: bool, deadline: float) -> tuple[Tally, float]:
    """All batches through the service; (tally, wall seconds of the whole phase)."""
    if procs == 1:
        profiler = cProfile.Profile() if profile else None
        started = time.monotonic()
        if profiler is not None:
            profiler.enable()
        tally = work(job, range(len(job.bodies)), progress(len(job.bodies), started))
        if profiler is not None:
            profiler.disable()
        seconds = time.monotonic() - started
        if profiler is not None:
            print_profile(profiler)
        return tally, seconds
    return run_processes(job, procs, deadline)


def progress(total: int, started: float) -> Any:
    """A callback printing a line about every 10% of the batches."""
    step = max(1, total // 10)

    def report(done: int, tally: Tally) -> None:
        if done % step == 0 or done == total:
            elapsed = time.monotonic() - started
            say(
                f"    {done:>5}/{total} batches  {tally.people:>10,} person results  "
                f"{elapsed:6.1f}s  {tally.people / elapsed:>9,.0f}/s"
            )

    return report


def run_processes(job: Job, procs: int, deadline: float) -> tuple[Tally, float]:
    """``procs`` spawned workers take batch indexes from one queue; the clock starts when all
    are connected (start-up is not measured) and stops when the last one is done."""
    ctx = multiprocessing.get_context("spawn")
    todo, ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    for index in range(len(job.bodies)):
        todo.put(index)
    for _ in range(procs):
        todo.put(None)
    workers = [
        ctx.Process(target=worker_main, args=(job, todo, ready, go, done), daemon=True)
        for _ in range(procs)
    ]
    try:
        for w in workers:
            w.start()
        for _ in workers:
            ready.get(timeout=120)
        started = time.monotonic()
        go.set()
        total, finished = Tally(), 0
        while finished < procs:
            if time.monotonic() > deadline:
                raise BenchTimeout("workers did not finish within --max-seconds")
            try:
                found = done.get(timeout=5)
            except queue.Empty:
                left = max(0, todo.qsize() - procs)
                say(
                    f"    {len(job.bodies) - left:>5}/{len(job.bodies)} batches taken  "
                    f"{time.monotonic() - started:6.1f}s"
                )
                continue
            if isinstance(found, str):
                raise RuntimeError(f"a worker failed: {found}")
            total.add(found)
            finished += 1
        seconds = time.monotonic() - started
        say(f"    {procs} processes: {total.batches} batches, {total.people:,} person results")
        return total, seconds
    except queue.Empty:
        raise RuntimeError("workers did not start in time") from None
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join(timeout=10)


def print_profile(profiler: cProfile.Profile) -> None:
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
        text = out.getvalue()
        body = text[text.find("   ncalls") :]
        say(f"\n  cProfile, top 25 by {order}:\n{body}")


# --- Redis --------------------------------------------------------------------------------
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, socket_timeout=30)


def used_memory() -> int:
    client = redis_client()
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def flush_redis() -> None:
    client = redis_client()
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass(frozen=True)
class Sample:
    keys: int
    memory_usage: float  # mean MEMORY USAGE of the sampled keys
    encodings: Counter[str]
    value_bytes: tuple[int, int]  # min, max length of the sampled field values


def sample_read_model(count: int = 1000) -> Sample:
    """``DBSIZE`` and what ``count`` random keys look like (independent of other databases)."""
    client = redis_client()
    try:
        keys = client.dbsize()
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.randomkey()
        names = [k for k in pipe.execute() if k is not None]
        for name in names:
            pipe.memory_usage(name, samples=0)
            pipe.object("encoding", name)
            pipe.hvals(name)
        answers = pipe.execute()
    finally:
        client.close()
    usages = answers[0::3]
    encodings = Counter(e.decode() if isinstance(e, bytes) else str(e) for e in answers[1::3])
    lengths = [len(v) for values in answers[2::3] for v in values] or [0]
    mean = sum(usages) / len(usages) if usages else 0.0
    return Sample(keys, mean, encodings, (min(lengths), max(lengths)))


# --- checks -------------------------------------------------------------------------------
def database_counts(conninfo: str, tubes: int) -> dict[str, Any]:
    """What ingest left in the database, and the outbox rows it should have written."""
    with psycopg.connect(conninfo) as conn:

        def one(sql: str, *params: Any) -> int:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        states = dict(
            conn.execute(
                "SELECT state, count(*) FROM person_results WHERE tube_id <= %s GROUP BY state",
                (tubes,),
            ).fetchall()
        )
        return {
            "tube_results": one("SELECT count(*) FROM tube_results WHERE tube_id <= %s", tubes),
            "person_results": sum(states.values()),
            "states": states,
            "outbox": one("SELECT count(*) FROM outbox"),
            "outbox_expected": one(
                "SELECT count(*) FROM samplings s JOIN account_residents ar"
                " ON ar.resident_id = s.resident_id WHERE s.tube_id <= %s",
                tubes,
            ),
            "requests_done": one("SELECT count(*) FROM lab_requests WHERE status = 'done'"),
        }


# --- the HTTP sample ----------------------------------------------------------------------
def b64_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def start_app(stack: ExitStack, database_url: str, keys: tuple[str, str]) -> tuple[Child, int]:
    """gunicorn with ``config/gunicorn.conf.py``, 1 worker (one lab uploading in sequence)."""
    port = free_port()
    placed = {
        "MINIAPP_ENV": "production",
        "MINIAPP_BIND": f"{LOOPBACK}:{port}",
        "MINIAPP_WORKERS": "1",
        "MINIAPP_THREADS": "4",
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": REDIS_URL,
        "MINIAPP_SECURITY__DATA_KEY": keys[0],
        "MINIAPP_SECURITY__INDEX_KEY": keys[1],
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps([{"kid": "b1", "private_key": b64_key()}]),
        # Login is not used here; the channel must exist, and points at a closed loopback port.
        "MINIAPP_WECHAT__APP_ID": "wxbench00000001",
        "MINIAPP_WECHAT__APP_SECRET": "a" + secrets.token_hex(15),
        "MINIAPP_WECHAT__API_BASE_URL": f"http://{LOOPBACK}:9",
        "MINIAPP_ALIPAY__APP_ID": "",
        "MINIAPP_LOGGING__LEVEL": "WARNING",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")} | placed
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "config/gunicorn.conf.py"),
        "wsgi:app",
    ]
    child = Child("gunicorn", argv, env, ROOT)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/healthz", child, timeout=60)
    return child, port


def http_sample(port: int, world: world_mod.World, sample: Plan) -> tuple[int, int, float]:
    """Upload the sample's batches one after another on one keep-alive connection, each
    signed (HMAC-SHA256, fresh nonce) with an Idempotency-Key; (tubes, people, seconds)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    tubes = people = 0
    started = time.monotonic()
    try:
        for body, key in zip(sample.bodies, sample.keys, strict=True):
            stamp, nonce = str(int(time.time())), secrets.token_hex(8)
            headers = {
                "Content-Type": "application/json",
                "X-Lab-Id": world.lab_id,
                "X-Timestamp": stamp,
                "X-Nonce": nonce,
                "X-Signature": sign(world.lab_secret, "POST", RESULTS_PATH, stamp, nonce, body),
                "Idempotency-Key": key,
            }
            connection.request("POST", RESULTS_PATH, body, headers)
            response = connection.getresponse()
            raw = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP sample: {response.status} {raw[:300]!r}")
            answer = json.loads(raw)
            tubes += len(answer["items"])
            people += sum(int(item.get("people", 0)) for item in answer["items"])
    finally:
        connection.close()
    return tubes, people, time.monotonic() - started


# --- the run ------------------------------------------------------------------------------
@dataclass
class Outcome:
    rows: list[Row]
    tally: Tally
    ours_seconds: float
    memory: tuple[int, int]
    sample: Sample
    counts: dict[str, Any]
    plan: Plan
    setup_seconds: float


def run(stack: ExitStack, args: argparse.Namespace, settings: LabSettings) -> Outcome:
    deadline = time.monotonic() + args.max_seconds
    spec = world_mod.WorldSpec(
        args.tubes, args.http_tubes, args.capacity, args.dependent_share, args.names
    )
    database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_ingest")
    stack.callback(database.drop)
    conninfo = psycopg_conninfo(database.url)
    flush_redis()
    stack.callback(flush_redis)

    say(f"  set-up (not timed): database {database.name}, Redis {REDIS_URL}")
    started = time.monotonic()
    upgrade(database.url)
    keys = (b64_key(), b64_key())
    crypto = PersonalDataCrypto(base64.b64decode(keys[0]), base64.b64decode(keys[1]))
    world = world_mod.build(conninfo, crypto, spec, say)
    setup_seconds = time.monotonic() - started
    say(f"  set-up done in {setup_seconds:.1f}s")

    people = args.tubes * args.capacity
    rows = [
        copy_baseline(conninfo, people, spec.residents, indexed=False),
        copy_baseline(conninfo, people, spec.residents, indexed=True),
    ]
    for row in rows:
        say(f"  {row.phase}: {row.rows:,} rows in {row.seconds:.2f}s ({row.rate:,.0f} rows/s)")

    batch = args.batch or settings.max_batch
    ours_plan = plan(range(1, args.tubes + 1), batch, args, world.tested_at, seed=1)
    job = Job(database.url, REDIS_URL, world.lab_pk, settings, ours_plan.bodies, ours_plan.keys)
    before = used_memory()
    say(
        f"  ours: {args.tubes:,} tubes in {len(job.bodies)} batches of {batch}, "
        f"{args.procs} process(es), Redis used_memory before: {before:,} B"
    )
    tally, seconds = run_ours(job, args.procs, args.profile, deadline)
    after = used_memory()
    sample = sample_read_model()
    counts = database_counts(conninfo, args.tubes)
    rows.append(Row("ours: lab service, in-process", tally.people, seconds, "person results"))

    if args.http_tubes:
        say(f"  HTTP sample: {args.http_tubes:,} more tubes through gunicorn, signed")
        _, port = start_app(stack, database.url, keys)
        ids = range(args.tubes + 1, args.tubes + args.http_tubes + 1)
        http_plan = plan(ids, batch, args, world.tested_at, seed=2)
        _, http_people, http_seconds = http_sample(port, world, http_plan)
        rows.append(Row("HTTP sample: gunicorn + HMAC", http_people, http_seconds, "apart"))
    return Outcome(rows, tally, seconds, (before, after), sample, counts, ours_plan, setup_seconds)


# --- output -------------------------------------------------------------------------------
def print_report(args: argparse.Namespace, out: Outcome) -> float:
    say("")
    header = f"{'phase':<34} {'rows':>11} {'seconds':>8} {'rows/s':>10}  note"
    say(header)
    say("-" * len(header))
    say(
        f"{'set-up (COPY of the world)':<34} {'':>11} {out.setup_seconds:>8.1f} {'':>10}  not timed"
    )
    for row in out.rows:
        say(f"{row.phase:<34} {row.rows:>11,} {row.seconds:>8.2f} {row.rate:>10,.0f}  {row.note}")
    c, t = out.counts, out.tally
    say(
        f"  ours wrote: {c['tube_results']:,} tube results, {c['person_results']:,} person "
        f"results {dict(sorted(c['states'].items()))}, {c['outbox']:,} outbox rows "
        f"(expected {c['outbox_expected']:,}), {out.sample.keys:,} read-model keys, "
        f"{c['requests_done']:,} idempotent answers"
    )
    say(
        f"  lab sent: {dict(sorted(out.plan.outcomes.items()))}; item statuses: "
        f"{dict(t.statuses)}; service errors logged: {t.logged_errors}"
    )
    print_breakdown(out.tally, args.procs)

    before, after = out.memory
    per = (after - before) / max(1, out.sample.keys)
    s = out.sample
    say(
        f"\n  Redis (INFO memory) used_memory before {before:,} B, after {after:,} B: "
        f"{after - before:,} B for {s.keys:,} residents = {per:.0f} B per resident"
    )
    say(
        f"  sampled 1000 keys: MEMORY USAGE {s.memory_usage:.0f} B per key, encodings "
        f"{dict(s.encodings)}, field values {s.value_bytes[0]}-{s.value_bytes[1]} B "
        f"(hash-max-listpack-value is 64 by default)"
    )

    ours = next(r for r in out.rows if r.phase.startswith("ours"))
    projected = TARGET_PEOPLE / ours.rate if ours.rate else float("inf")
    scale = "" if ours.rows == TARGET_PEOPLE else f" (projected from {ours.rows:,} at this rate)"
    say(
        f"\n  target: 1,000,000 person results within {TARGET_SECONDS:.0f}s: "
        f"{projected:.1f}s{scale} -> {'met' if projected <= TARGET_SECONDS else 'MISSED'}"
    )
    say(
        f"  target: read model at most {TARGET_BYTES} B per resident: {per:.0f} B -> "
        f"{'met' if per <= TARGET_BYTES else 'MISSED'}"
    )
    baseline = out.rows[0]
    return ours.rate / baseline.rate if baseline.rate else 0.0


def print_breakdown(tally: Tally, procs: int) -> None:
    """Seconds per part, summed over the processes (with several, more than the wall time)."""
    order = [label for _, label in LABELS] + [
        "db: other statements",
        "db: commits",
        REDIS_LABEL,
        PYTHON_LABEL,
    ]
    total = sum(tally.seconds.values()) or 1.0
    batches = max(1, tally.batches)
    say(f"\n  where ours spends its time ({procs} process(es), {tally.batches} batches):")
    say(f"    {'part':<36} {'seconds':>8} {'share':>6} {'ms/batch':>9}")
    for label in order:
        seconds = tally.seconds.get(label, 0.0)
        say(
            f"    {label:<36} {seconds:>8.2f} {seconds / total:>6.0%} "
            f"{1000 * seconds / batches:>9.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = configured_lab_settings()
    batch = args.batch or settings.max_batch
    if batch > settings.max_batch:
        print(
            f"bench/ingest: --batch {batch} > LAB.MAX_BATCH {settings.max_batch}", file=sys.stderr
        )
        return 2
    # SIGTERM unwinds like Ctrl-C; SIGALRM bounds the whole run. Both reach the clean-up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    def too_long(signum: int, frame: Any) -> None:
        raise BenchTimeout(f"gave up after --max-seconds {args.max_seconds}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)

    people = args.tubes * args.capacity
    say(
        f"bench/ingest: {args.tubes:,} tubes of {args.capacity} ({people:,} person results) "
        f"through the lab service, next to a bare COPY of {people:,} rows"
    )
    say(
        f"  lab results: {args.positive_share:.1%} positive pools (-> retest_required), "
        f"{args.invalid_share:.1%} invalid, the rest negative; every resident is the self of one "
        f"account, {args.dependent_share:.0%} also a dependent of another (outbox rows per "
        f"person result: {1 + args.dependent_share:.2f}); names: {args.names}"
    )
    try:
        with ExitStack() as stack:
            try:
                outcome = run(stack, args, settings)
            finally:
                signal.alarm(0)
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, signal.SIG_IGN)
    except KeyboardInterrupt:
        print("bench/ingest: interrupted; database dropped, Redis db flushed", file=sys.stderr)
        return 130
    except RuntimeError as error:  # BenchTimeout too
        print(f"bench/ingest: {error}", file=sys.stderr)
        return 1
    ratio = print_report(args, outcome)
    say(f"ratio: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
