"""The retention purge on 1 M expired rows while lab ingest runs, and what it costs ingest.

Target in the README, "Benchmarks" (issue 13: ingest throughput with and without the purge,
in the same run). `make bench-retention` (= `.venv/bin/python bench/retention.py`; ``--help``).
One run creates a scratch PostgreSQL database, loads a morning of sampling as
``bench/ingest.py`` does (``_ingest_world.py``: residents, accounts, tubes, samplings waiting
for their results) and ``--rows`` expired person results tested long ago, with their tubes,
tube results and samplings (``_retention_seed.py``). Then, in the same run, three ingest
phases through the lab service (``_ingest_work.py``, ``--procs`` processes, ``--tubes`` tubes
each):

* **A1**: ingest alone;
* **B**: ingest while ``miniapp_api.retention.purge`` deletes the expired results (kind
  ``results``, batches of ``RETENTION.BATCH_SIZE``) in a thread of this process, started when
  the ingest processes are; after B the purge is left to finish, alone;
* **A2**: ingest alone again (the baseline is the mean of A1 and A2: the machine drifts).

It prints the phases (rows, seconds, rows/s), the purge (rows, seconds, rows/s, batches, the
longest batch), whether the purge ran through all of B, checks, and as its last line
``ratio: <ingest rows/s during the purge / without it>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from miniapp_api.db import Database, utcnow
from miniapp_api.migrate import upgrade
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.redis_client import make_redis
from miniapp_api.retention.purge import Kind, Purge, PurgeReport, purge
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import RedisSettings, RetentionSettings, from_section, load_config

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ingest_world as world_mod  # noqa: E402  (after the sys.path line above)
import _retention_seed as seed_mod  # noqa: E402
import ingest as ingest_bench  # noqa: E402
from _ingest_measure import RedisDb  # noqa: E402
from _ingest_work import Job  # noqa: E402
from _procs import ScratchDatabase, guarded  # noqa: E402

ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Its own database: bench-ingest flushes 13, bench-login 14, bench-overload 9, bench-hotpath 7.
REDIS_URL = os.environ.get("BENCH_RETENTION_REDIS_URL", "redis://127.0.0.1:6379/11")
say = ingest_bench.say


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--rows", type=int, default=1_000_000, help="expired person results (default 1000000)")
    add(
        "--tubes",
        type=int,
        default=20_000,
        help="tubes ingested in each of the three phases (default 20000: 200,000 people)",
    )
    add("--capacity", type=int, default=10, choices=(1, 5, 10, 20), help="people per tube")
    add("--procs", type=int, default=2, help="processes ingesting at once (default 2)")
    add("--batch-size", type=int, default=0, help="purge rows per batch (default: configured)")
    add("--max-seconds", type=int, default=900, help="give up, and clean up, after this")
    args = parser.parse_args(argv)
    if min(args.rows, args.tubes, args.procs) < 1 or args.batch_size < 0:
        parser.error("--rows, --tubes and --procs must be positive")
    # What ingest_bench.plan reads: the lab's mix of outcomes.
    args.positive_share, args.invalid_share = 0.005, 0.002
    return args


def configured_retention() -> RetentionSettings:
    """``[RETENTION]`` as the app reads it (config/*.toml for MINIAPP_ENV, MINIAPP_RETENTION__*)."""
    from flask import Config

    config = Config(str(Path(__file__).resolve().parent.parent))
    load_config(config)
    return from_section(RetentionSettings, config.get("RETENTION", {}))


@dataclass
class Phase:
    name: str
    people: int = 0
    seconds: float = 0.0
    wall: tuple[float, float] = (0.0, 0.0)  # monotonic start and end

    @property
    def rate(self) -> float:
        return self.people / self.seconds if self.seconds else 0.0


def run_phase(
    job: Job, procs: int, name: str, deadline: float, on_go: Callable[[], None] | None = None
) -> Phase:
    """``procs`` spawned ingest workers over ``job``'s batches (``bench/ingest.py``'s
    ``run_processes``); the clock (and ``on_go``) starts once all are connected."""
    tally, seconds = ingest_bench.run_processes(job, procs, deadline, on_go)
    ended = time.monotonic()
    phase = Phase(name, tally.people, seconds, (ended - seconds, ended))
    say(f"  {name}: {phase.people:,} person results in {phase.seconds:.1f}s")
    return phase


@dataclass
class PurgeThread:
    """The purge in a thread of this process, with connections of its own."""

    job: Purge
    report: PurgeReport | None = None
    error: BaseException | None = None
    wall: tuple[float, float] = (0.0, 0.0)
    thread: threading.Thread = field(init=False)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="purge", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self.report = purge(self.job, kinds=(Kind.RESULTS,))
        except BaseException as error:  # noqa: BLE001  reported by the main thread
            self.error = error
        self.wall = (started, time.monotonic())

    def join(self, deadline: float) -> PurgeReport:
        self.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            raise RuntimeError("the purge did not finish within --max-seconds")
        if self.error is not None:
            raise RuntimeError(f"the purge failed: {self.error!r}")
        assert self.report is not None
        return self.report


@dataclass
class Outcome:
    setup_seconds: float
    expired: seed_mod.Expired
    phases: list[Phase]
    report: PurgeReport
    purge_wall: tuple[float, float]
    left: int  # expired person results still there afterwards


def run(stack: ExitStack, args: argparse.Namespace) -> Outcome:
    deadline = time.monotonic() + args.max_seconds
    retention = configured_retention()
    if args.batch_size:
        retention = RetentionSettings(**{**retention.__dict__, "batch_size": args.batch_size})
    lab_settings = ingest_bench.configured_lab_settings()
    spec = world_mod.WorldSpec(3 * args.tubes, 0, args.capacity, 0.1, "zh")
    database = ScratchDatabase(ADMIN_DATABASE_URL, "bench_retention")
    stack.callback(database.drop)
    conninfo = ingest_bench.psycopg_conninfo(database.url)
    redis_db = RedisDb(REDIS_URL)
    redis_db.flush()
    stack.callback(redis_db.flush)

    say(f"  set-up (not timed): database {database.name}, Redis {REDIS_URL} (flushed)")
    started = time.monotonic()
    upgrade(database.url)
    crypto = PersonalDataCrypto(os.urandom(32), os.urandom(32))
    world = world_mod.build(conninfo, crypto, spec, say)
    expired = seed_mod.seed(
        conninfo,
        rows=args.rows,
        capacity=args.capacity,
        residents=spec.residents,
        sites=spec.sites,
        lab_pk=world.lab_pk,
        age_days=retention.results_days + 10,
        say=say,
    )
    setup_seconds = time.monotonic() - started
    say(f"  set-up done in {setup_seconds:.1f}s")

    def job_of(first: int, seed: int) -> Job:
        tubes = range(first, first + args.tubes)
        planned = ingest_bench.plan(tubes, lab_settings.max_batch, args, world.tested_at, seed)
        return Job(
            database.url, REDIS_URL, world.lab_pk, lab_settings, planned.bodies, planned.keys
        )

    db = Database(database.url, pool_size=2)
    stack.callback(db.dispose)
    client = make_redis(RedisSettings(url=REDIS_URL, socket_timeout=10, connect_timeout=5))
    purger = PurgeThread(Purge(db, ResultReadModel(client), retention, utcnow()))
    say(
        f"  {expired.people:,} expired person results ({expired.rows:,} rows with tubes' "
        f"results and samplings); purge batches of {retention.batch_size}, each followed by a "
        f"pause of {retention.pause_factor}x its duration; ingest "
        f"{args.tubes:,} tubes of {args.capacity} per phase, {args.procs} processes"
    )
    phases = [run_phase(job_of(1, 1), args.procs, "A1 ingest alone", deadline)]
    phases.append(
        run_phase(
            job_of(1 + args.tubes, 2), args.procs, "B  ingest + purge", deadline, purger.start
        )
    )
    report = purger.join(deadline)
    say(f"  purge done: {report.rows:,} rows in {report.seconds:.1f}s")
    phases.append(run_phase(job_of(1 + 2 * args.tubes, 3), args.procs, "A2 ingest alone", deadline))
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM person_results WHERE tested_at < now() - %s::interval",
            (f"{retention.results_days} days",),
        ).fetchone()
    return Outcome(setup_seconds, expired, phases, report, purger.wall, int(row[0]) if row else -1)


def print_report(args: argparse.Namespace, out: Outcome) -> tuple[float, list[str]]:
    header = f"{'phase':<34} {'rows':>11} {'seconds':>8} {'rows/s':>10}"
    say("")
    say(header)
    say("-" * len(header))
    say(f"{'set-up (world and expired rows)':<34} {'':>11} {out.setup_seconds:>8.1f}")
    for phase in out.phases:
        say(f"{phase.name:<34} {phase.people:>11,} {phase.seconds:>8.2f} {phase.rate:>10,.0f}")
    r = out.report
    purge_rate = r.rows / r.seconds if r.seconds else 0.0
    say(f"{'purge (results), all tables':<34} {r.rows:>11,} {r.seconds:>8.2f} {purge_rate:>10,.0f}")
    people = r.deleted.get(Kind.RESULTS, {}).get("person_results", 0)
    alone = (out.phases[0].rate + out.phases[2].rate) / 2
    during = out.phases[1].rate
    b_start, b_end = out.phases[1].wall
    p_start, p_end = out.purge_wall
    overlap = max(0.0, min(b_end, p_end) - max(b_start, p_start)) / max(1e-9, b_end - b_start)
    say(
        f"\n  purge: {people:,} person results and their samplings and tube results, "
        f"{r.batches} batches, longest batch {1000 * r.longest_batch_seconds:.0f} ms, "
        f"{purge_rate:,.0f} rows/s ({people / r.seconds if r.seconds else 0:,.0f} person results/s)"
    )
    say(
        f"  the purge ran through {overlap:.0%} of phase B"
        + ("" if overlap >= 0.99 else " (less: the ratio flatters; raise --rows or lower --tubes)")
    )
    wrong = []
    if out.left:
        wrong.append(f"{out.left:,} expired person results left")
    if people != out.expired.people:
        wrong.append(f"{people:,} person results purged, {out.expired.people:,} seeded")
    expected = args.tubes * args.capacity
    if any(p.people != expected for p in out.phases):
        wrong.append(f"an ingest phase wrote other than {expected:,} person results")
    say("  checks: " + ("all as expected" if not wrong else "FAILED: " + "; ".join(wrong)))
    say(
        f"  ratio = ingest {during:,.0f} rows/s during the purge / {alone:,.0f} rows/s without "
        "(mean of A1 and A2)"
    )
    return (during / alone if alone else 0.0), wrong


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    say(
        f"bench/retention: purge {args.rows:,} expired person results while ingesting "
        f"{args.tubes:,} tubes of {args.capacity}; ingest alone before and after"
    )
    outcome = guarded("retention", lambda stack: run(stack, args))
    if isinstance(outcome, int):
        return outcome
    ratio, wrong = print_report(args, outcome)
    say(f"ratio: {ratio:.3f}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
