"""Lab result ingest: 100,000 tubes of 10 into PostgreSQL and Redis, next to a bare COPY.

Target in the README, "Benchmarks". `make bench-ingest` (= `.venv/bin/python bench/ingest.py`;
``--help`` for the knobs). One run creates a scratch PostgreSQL database and loads a morning of
sampling with ``COPY`` (residents, accounts, tubes, samplings; not timed), then measures, in the
same run:

* **COPY**: a bare ``COPY`` of as many rows of ``person_results``' shape into an unindexed
  table, once before and once after ours (their mean is the ratio's denominator), and once
  into a table with ``person_results``' indexes, for reference;
* **ours**: every tube result through the lab service the HTTP endpoint calls
  (``miniapp_api.lab.service.upload_results``), in batches of ``LAB.MAX_BATCH``, in-process,
  from ``--procs`` processes at once: tube results, fan-out to person results, outbox rows,
  the Redis read model (db 13);
* a smaller sample through HTTP (gunicorn, HMAC-signed uploads), reported apart.

It prints the phases (rows, seconds, rows/s), where ours spends its time, the read model's
Redis memory per resident, checks of what was written, the targets, and as its last line
``ratio: <ours rows/s / COPY rows/s>``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
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
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Config
from sqlalchemy.engine import make_url

from miniapp_api.migrate import upgrade
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import LabSettings, load_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ingest_http as via_http  # noqa: E402  (after the sys.path line above)
import _ingest_world as world_mod  # noqa: E402
from _ingest_measure import BEIJING, RedisDb, Sample, copy_rows, database_counts  # noqa: E402
from _ingest_work import (  # noqa: E402
    LABELS,
    PYTHON_LABEL,
    REDIS_LABEL,
    Job,
    Tally,
    work,
    worker_main,
)
from _procs import ScratchDatabase  # noqa: E402

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Not BENCH_REDIS_URL: bench/login.py flushes that one (db 14).
REDIS_URL = os.environ.get("BENCH_INGEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TARGET_SECONDS = 60.0  # README, "Benchmarks": 1 million person results within 60 s
TARGET_PEOPLE = 1_000_000
TARGET_BYTES = 200  # the issue: read model at most 200 bytes per resident


class BenchTimeout(RuntimeError):
    pass


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--tubes", type=int, default=100_000, help="tubes ingested in-process (default 100000)")
    add("--capacity", type=int, default=10, choices=(1, 5, 10, 20), help="people per tube")
    add("--batch", type=int, default=0, help="tubes per upload (default: LAB.MAX_BATCH)")
    add(
        "--procs",
        type=int,
        default=0,
        help="processes uploading at once, each with its own connections (default 2, "
        "1 with --profile)",
    )
    add("--positive-share", type=float, default=0.005, help="positive pooled tubes (0.005)")
    add("--invalid-share", type=float, default=0.002, help="invalid tubes (0.002)")
    add(
        "--dependent-share",
        type=float,
        default=0.1,
        help="residents also held by a relative's account, one more outbox row each (0.1)",
    )
    add(
        "--names",
        choices=sorted(world_mod.NAME_STYLES),
        default="zh",
        help="round and site names: zh (as the city names them; default) or ascii (as the tests)",
    )
    add(
        "--http-tubes",
        type=int,
        default=5_000,
        help="more tubes uploaded through gunicorn, signed (default 5000; 0 skips)",
    )
    add("--profile", action="store_true", help="cProfile ours (one process)")
    add("--max-seconds", type=int, default=1800, help="give up, and clean up, after this")
    args = parser.parse_args(argv)
    args.procs = args.procs or (1 if args.profile else 2)
    if args.tubes < 1 or args.procs < 1 or args.http_tubes < 0 or args.batch < 0:
        parser.error("--tubes and --procs must be positive, --http-tubes and --batch not negative")
    if args.profile and args.procs != 1:
        parser.error("--profile measures one process: --procs 1")
    if not 0 <= args.positive_share + args.invalid_share <= 1:
        parser.error("--positive-share + --invalid-share must be within 0..1")
    return args


def configured_lab_settings() -> LabSettings:
    """``[LAB]`` as the app reads it: config/*.toml for MINIAPP_ENV, then MINIAPP_LAB__*."""
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


# --- the batches a lab sends ----------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    bodies: list[bytes]
    keys: list[str]
    outcomes: Counter[str]


def plan(
    tube_ids: Sequence[int], batch: int, args: argparse.Namespace, tested_at: datetime, seed: int
) -> Plan:
    """JSON bodies of ``batch`` tubes each, the tubes in random order (a lab's plates are not
    the order of sampling): mostly negative, some positive pools, a few invalid."""
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
                f'{{"tube_no":"{world_mod.tube_no(tube_id)}","result":"{result}",'
                f'"tested_at":"{stamp}"}}'
            )
        bodies.append(('{"results":[' + ",".join(items) + "]}").encode())
    keys = [f"bench-{seed}-{i}-{secrets.token_hex(4)}" for i in range(len(bodies))]
    return Plan(bodies, keys, outcomes)


# --- ours -----------------------------------------------------------------------------------
def run_ours(job: Job, procs: int, profile: bool, deadline: float) -> tuple[Tally, float, str]:
    """Every batch through the service; (tally, wall seconds, cProfile report or "")."""
    if procs > 1:
        tally, seconds = run_processes(job, procs, deadline)
        return tally, seconds, ""
    profiler = cProfile.Profile() if profile else None
    started = time.monotonic()
    report = progress(len(job.bodies), started)
    if profiler is not None:
        tally = profiler.runcall(work, job, range(len(job.bodies)), report)
    else:
        tally = work(job, range(len(job.bodies)), report)
    seconds = time.monotonic() - started
    return tally, seconds, profile_text(profiler) if profiler is not None else ""


def progress(total: int, started: float) -> Callable[[int, Tally], None]:
    """A line about every tenth of the batches."""
    step = max(1, total // 10)

    def report(done: int, tally: Tally) -> None:
        if done % step == 0 or done == total:
            elapsed = time.monotonic() - started
            say(
                f"    {done:>5}/{total} batches  {tally.people:>10,} person results  "
                f"{elapsed:6.1f}s  {tally.people / elapsed:>8,.0f}/s"
            )

    return report


def run_processes(
    job: Job, procs: int, deadline: float, on_go: Callable[[], None] | None = None
) -> tuple[Tally, float]:
    """``procs`` spawned workers take batch indexes from one queue. The clock starts once all
    are connected (start-up is not measured) and stops when the last one is done; ``on_go``
    runs just before the clock starts (bench/retention.py starts its purge there)."""
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
        try:
            for _ in workers:
                ready.get(timeout=120)
        except queue.Empty:
            raise RuntimeError("the worker processes did not start within 120 s") from None
        if on_go is not None:
            on_go()
        started = time.monotonic()
        go.set()
        total, finished, last = Tally(), 0, started
        while finished < procs:
            if time.monotonic() > deadline:
                raise BenchTimeout("ours did not finish within --max-seconds")
            try:
                found = done.get(timeout=1)
            except queue.Empty:
                if time.monotonic() - last >= 10:
                    last = time.monotonic()
                    taken = len(job.bodies) - max(0, todo.qsize() - procs)
                    say(f"    ~{taken:>4}/{len(job.bodies)} batches taken  {last - started:6.1f}s")
                continue
            if isinstance(found, str):
                raise RuntimeError(f"a worker failed: {found}")
            total.add(found)
            finished += 1
        seconds = time.monotonic() - started
        say(f"    {procs} processes done: {total.people:,} person results in {seconds:.1f}s")
        return total, seconds
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join(timeout=10)


def profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(20)
        body = text.getvalue()
        out.write(f"\n  cProfile of ours, top 20 by {order}:\n{body[body.find('   ncalls') :]}")
    return out.getvalue()


# --- the run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    phase: str
    rows: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Outcome:
    setup_seconds: float
    copies: list[Row]  # unindexed before ours, with indexes, unindexed after ours
    ours: Row
    http: Row | None
    http_batches: int
    tally: Tally
    memory: tuple[int, int]
    sample: Sample
    counts: dict[str, Any]
    plan: Plan
    profile: str


def psycopg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(stack: ExitStack, args: argparse.Namespace, settings: LabSettings) -> Outcome:
    """Everything between the scratch database's creation and its drop (on ``stack``)."""
    deadline = time.monotonic() + args.max_seconds
    spec = world_mod.WorldSpec(
        args.tubes, args.http_tubes, args.capacity, args.dependent_share, args.names
    )
    database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_ingest")
    stack.callback(database.drop)
    conninfo = psycopg_conninfo(database.url)
    redis_db = RedisDb(REDIS_URL)
    redis_db.flush()
    stack.callback(redis_db.flush)

    say(f"  set-up (not timed): database {database.name}, Redis {REDIS_URL} (flushed)")
    started = time.monotonic()
    upgrade(database.url)
    keys = (via_http.b64_key(), via_http.b64_key())
    crypto = PersonalDataCrypto(base64.b64decode(keys[0]), base64.b64decode(keys[1]))
    world = world_mod.build(conninfo, crypto, spec, say)
    setup_seconds = time.monotonic() - started
    say(f"  set-up done in {setup_seconds:.1f}s")

    people = args.tubes * args.capacity

    def copy_row(name: str, note: str, *, indexed: bool) -> Row:
        row = Row(name, people, copy_rows(conninfo, people, spec.residents, indexed=indexed), note)
        say(f"  {name}: {row.rows:,} rows in {row.seconds:.2f}s ({row.rate:,.0f} rows/s)")
        return row

    copies = [
        copy_row("COPY, unindexed, before ours", "baseline", indexed=False),
        copy_row("COPY, person_results' indexes", "reference", indexed=True),
    ]

    batch = args.batch or settings.max_batch
    ours_plan = plan(range(1, args.tubes + 1), batch, args, world.tested_at, seed=1)
    job = Job(database.url, REDIS_URL, world.lab_pk, settings, ours_plan.bodies, ours_plan.keys)
    before = redis_db.used_memory()
    say(
        f"  ours: {args.tubes:,} tubes in {len(job.bodies)} batches of {batch}, "
        f"{args.procs} process(es); Redis used_memory before: {before:,} B"
    )
    tally, seconds, profile = run_ours(job, args.procs, args.profile, deadline)
    after = redis_db.used_memory()
    sample = redis_db.sample()
    counts = database_counts(conninfo, args.tubes)
    ours = Row(f"ours: lab service, {args.procs} proc(s)", tally.people, seconds, "person results")
    copies.append(copy_row("COPY, unindexed, after ours", "baseline", indexed=False))

    http, http_batches = None, 0
    if args.http_tubes:
        say(f"  HTTP sample: {args.http_tubes:,} more tubes through gunicorn, signed uploads")
        _, port = via_http.start_app(stack, database.url, REDIS_URL, keys, args.procs)
        ids = range(args.tubes + 1, args.tubes + args.http_tubes + 1)
        sample_plan = plan(ids, batch, args, world.tested_at, seed=2)
        lab = via_http.LabKey(world.lab_id, world.lab_secret)
        http_batches = len(sample_plan.bodies)
        http_people, http_seconds = via_http.upload(
            port, lab, sample_plan.bodies, sample_plan.keys, args.procs
        )
        http = Row(
            f"HTTP sample: gunicorn, {args.procs} client(s)", http_people, http_seconds, "apart"
        )
    return Outcome(
        setup_seconds,
        copies,
        ours,
        http,
        http_batches,
        tally,
        (before, after),
        sample,
        counts,
        ours_plan,
        profile,
    )


# --- output ---------------------------------------------------------------------------------
def checks(args: argparse.Namespace, out: Outcome) -> list[str]:
    """What is wrong with what ours wrote (nothing, if the list is empty)."""
    c, t, people = out.counts, out.tally, args.tubes * args.capacity
    wrong = []
    if c["tube_results"] != args.tubes or t.statuses.get("accepted", 0) != args.tubes:
        wrong.append(f"{c['tube_results']:,} tube results stored, {args.tubes:,} sent")
    if c["person_results"] != people or t.people != people:
        wrong.append(f"{c['person_results']:,} person results, {people:,} expected")
    if c["outbox"] != c["outbox_expected"]:
        wrong.append(f"{c['outbox']:,} outbox rows, {c['outbox_expected']:,} expected")
    if out.sample.keys != people:
        wrong.append(f"{out.sample.keys:,} read-model keys, {people:,} expected")
    if t.logged_errors:
        wrong.append(f"the service logged {t.logged_errors} errors (read model updates lost)")
    return wrong


def print_report(args: argparse.Namespace, out: Outcome) -> tuple[float, list[str]]:
    """The tables and the targets; returns (ratio, failed checks)."""
    if out.profile:
        say(out.profile)
    say("")
    header = f"{'phase':<34} {'rows':>11} {'seconds':>8} {'rows/s':>10}  note"
    say(header)
    say("-" * len(header))
    say(
        f"{'set-up (COPY of the world)':<34} {'':>11} {out.setup_seconds:>8.1f} {'':>10}  not timed"
    )
    rows = [out.copies[0], out.copies[1], out.ours, out.copies[2]]
    for row in rows + ([out.http] if out.http else []):
        say(f"{row.phase:<34} {row.rows:>11,} {row.seconds:>8.2f} {row.rate:>10,.0f}  {row.note}")
    baseline = (out.copies[0].rate + out.copies[2].rate) / 2

    c, t, s = out.counts, out.tally, out.sample
    say(
        f"  ours wrote: {c['tube_results']:,} tube results, {c['person_results']:,} person "
        f"results {dict(sorted(c['states'].items()))}, {c['outbox']:,} outbox rows "
        f"(expected {c['outbox_expected']:,}), {s.keys:,} read-model keys, "
        f"{c['requests_done']:,} idempotent answers"
    )
    say(
        f"  the lab sent {dict(sorted(out.plan.outcomes.items()))}; answers per item: "
        f"{dict(t.statuses)}"
    )
    print_breakdown(t, args.procs, out.ours.seconds)
    if out.http:
        per_request = 1000 * out.http.seconds * args.procs / max(1, out.http_batches)
        say(
            f"\n  HTTP sample: {out.http.rate:,.0f} person results/s; {per_request:.0f} ms per "
            f"upload and client, vs {1000 * t.wall / max(1, t.batches):.0f} ms per batch and "
            "process in-process (the difference: HMAC check, nonce, JSON over loopback, "
            "gunicorn; the sample also runs later, on bigger tables)"
        )

    before, after = out.memory
    per = (after - before) / max(1, s.keys)
    say(
        f"\n  Redis INFO memory used_memory: before {before:,} B, after {after:,} B; "
        f"{after - before:,} B for {s.keys:,} residents = {per:.0f} B per resident"
    )
    say(
        f"  1000 random keys: MEMORY USAGE {s.memory_usage:.0f} B per key, encodings "
        f"{dict(s.encodings)}, values {s.value_bytes[0]}-{s.value_bytes[1]} B "
        "(a hash stays a compact listpack only while every value is <= hash-max-listpack-value, "
        "64 by default)"
    )

    projected = TARGET_PEOPLE / out.ours.rate if out.ours.rate else float("inf")
    scaled = "" if out.ours.rows == TARGET_PEOPLE else f", projected from {out.ours.rows:,}"
    say(
        f"\n  target: 1,000,000 person results within {TARGET_SECONDS:.0f} s: "
        f"{projected:.1f} s{scaled} -> {'met' if projected <= TARGET_SECONDS else 'MISSED'}"
    )
    say(
        f"  target: read model at most {TARGET_BYTES} B per resident: {per:.0f} B -> "
        f"{'met' if per <= TARGET_BYTES else 'MISSED'}"
    )
    wrong = checks(args, out)
    say("  checks: " + ("all written as expected" if not wrong else "FAILED: " + "; ".join(wrong)))
    say(
        f"  ratio = ours {out.ours.rate:,.0f} rows/s / COPY {baseline:,.0f} rows/s "
        "(mean of the unindexed COPY before and after ours)"
    )
    return (out.ours.rate / baseline if baseline else 0.0), wrong


def print_breakdown(tally: Tally, procs: int, wall: float) -> None:
    order = [label for _, label in LABELS] + [
        "db: other statements",
        "db: commits",
        REDIS_LABEL,
        PYTHON_LABEL,
    ]
    total = sum(tally.seconds.values()) or 1.0
    batches = max(1, tally.batches)
    summed = f", summed over {procs} processes ({wall:.1f} s of wall time)" if procs > 1 else ""
    say(f"\n  where ours spends its time (seconds in each part{summed}):")
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
        f"  the lab sends {args.positive_share:.1%} positive pools (-> retest_required), "
        f"{args.invalid_share:.1%} invalid, the rest negative; each resident is the self of one "
        f"account and {args.dependent_share:.0%} also a relative's dependent "
        f"({1 + args.dependent_share:.2f} outbox rows per person result); names: {args.names}"
    )
    try:
        with ExitStack() as stack:
            try:
                outcome = run(stack, args, settings)
            finally:
                signal.alarm(0)
                # A second Ctrl-C must not cut the clean-up short.
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, signal.SIG_IGN)
    except KeyboardInterrupt:
        print("bench/ingest: interrupted; database dropped, Redis db flushed", file=sys.stderr)
        return 130
    except RuntimeError as error:  # BenchTimeout too
        print(f"bench/ingest: {error}; database dropped, Redis db flushed", file=sys.stderr)
        return 1
    ratio, wrong = print_report(args, outcome)
    say(f"ratio: {ratio:.3f}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
