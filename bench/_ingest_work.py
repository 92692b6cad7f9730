"""The measured work of ``bench/ingest.py``: lab batches through the lab service, in-process.

Per batch this does what ``POST /api/v1/lab/results`` does after the signature check: parse
the JSON body into ``ResultBatchIn`` (the view's ``parse_body``), take the request fingerprint,
and call :func:`miniapp_api.lab.service.upload_results` with a fresh session (the view's
``wire.db.session()``), a ``ResultReadModel`` over a Redis client made as the app makes it
(``make_redis``: 0.25 s timeouts), the configured ``LabSettings`` and an ``Idempotency-Key``.

Where the time goes is measured from the outside, without touching the app: a SQLAlchemy
cursor event times each statement (labelled by what it writes or reads), the read model is a
subclass that times :meth:`record`, and the rest of a batch's wall time is Python (parsing,
the ORM, building the read-model entries and the answer). Errors the service only logs (a
failed read-model update) are counted from its logger.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from miniapp_api.db import Database
from miniapp_api.lab import idempotency, service
from miniapp_api.lab.schemas import ResultBatchIn
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.redis_client import make_redis
from miniapp_api.sampling.models import Lab
from miniapp_api.settings import LabSettings, RedisSettings

RESULTS_PATH = "/api/v1/lab/results"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Statement labels, by how the statement starts (SQLAlchemy's rendering of the app's queries).
LABELS = (
    ("INSERT INTO lab_requests", "db: idempotency claim"),
    ("UPDATE lab_requests", "db: idempotency answer"),
    ("SELECT tubes.id", "db: tube lookup"),
    ("INSERT INTO tube_results", "db: tube_results insert"),
    ("WITH src AS", "db: fan-out (person_results, outbox, entries)"),
)
REDIS_LABEL = "redis: read model record"
PYTHON_LABEL = "python: parse, ORM, entries, answer"
COMMIT_LABEL = "db: commits"


@dataclass
class Job:
    """What a worker needs: where to connect and the batches (bodies and their keys)."""

    database_url: str
    redis_url: str
    lab_pk: int
    settings: LabSettings
    bodies: Sequence[bytes]
    keys: Sequence[str]


@dataclass
class Tally:
    """What a worker did and where its time went (seconds by label)."""

    batches: int = 0
    tubes: int = 0
    accepted: int = 0
    people: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    logged_errors: int = 0

    def add(self, other: Tally) -> None:
        self.batches += other.batches
        self.tubes += other.tubes
        self.accepted += other.accepted
        self.people += other.people
        self.statuses.update(other.statuses)
        self.seconds.update(other.seconds)
        self.wall += other.wall
        self.logged_errors += other.logged_errors


class TimedReadModel(ResultReadModel):
    """The app's read model; :meth:`record` timed into the tally."""

    def __init__(self, client: Any, tally: Tally) -> None:
        super().__init__(client)
        self._tally = tally

    def record(self, entries: Iterable[tuple[str, ResultEntry]]) -> None:
        started = time.perf_counter()
        try:
            super().record(entries)
        finally:
            self._tally.seconds[REDIS_LABEL] += time.perf_counter() - started


class _ErrorCounter(logging.Handler):
    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.ERROR)
        self._tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self._tally.logged_errors += 1


class Ingester:
    """One process's connections, the lab row and a tally; :meth:`run` ingests one batch."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.tally = Tally()
        self.db = Database(job.database_url, pool_size=1)
        self.redis = make_redis(RedisSettings(job.redis_url))
        self.readmodel = TimedReadModel(self.redis, self.tally)
        logging.getLogger(service.__name__).addHandler(_ErrorCounter(self.tally))
        event.listen(self.db.engine, "before_cursor_execute", self._before)
        event.listen(self.db.engine, "after_cursor_execute", self._after)
        event.listen(self.db.engine, "commit", self._before_commit)
        event.listen(self.db.sessions, "after_commit", self._after_commit)
        with self.db.session() as session:
            lab = session.get(Lab, job.lab_pk)
            assert lab is not None, "the bench lab is missing"
            self.lab = lab  # detached, its columns loaded (sessions do not expire on commit)
        self.tally.seconds.clear()  # the lab's SELECT is not part of any batch
        self._commit_started = 0.0

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()

    def run(self, index: int) -> None:
        body, key = self.job.bodies[index], self.job.keys[index]
        started = time.perf_counter()
        batch = ResultBatchIn.model_validate_json(body)
        request = service.IdempotentRequest(
            key, idempotency.fingerprint("POST", RESULTS_PATH, body)
        )
        with self.db.session() as session:
            answer = service.upload_results(
                session,
                self.lab,
                batch=batch,
                request=request,
                readmodel=self.readmodel,
                settings=self.job.settings,
                now=datetime.now(UTC),
            )
        elapsed = time.perf_counter() - started
        t = self.tally
        t.wall += elapsed
        t.batches += 1
        t.tubes += len(batch.results)
        if answer.status != 200:
            t.statuses[f"http {answer.status}"] += len(batch.results)
            return
        t.accepted += int(answer.body["accepted"])
        for item in answer.body["items"]:
            t.statuses[item["status"]] += 1
            t.people += int(item.get("people", 0))

    def finish_breakdown(self) -> None:
        """Book the wall time no statement, commit or Redis call took as Python."""
        measured = sum(v for k, v in self.tally.seconds.items() if k != PYTHON_LABEL)
        self.tally.seconds[PYTHON_LABEL] = max(0.0, self.tally.wall - measured)

    # --- statement timing (SQLAlchemy events on this process's engine) -------------------
    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        elapsed = time.perf_counter() - conn.info["bench_started"].pop()
        label = next((lb for prefix, lb in LABELS if statement.startswith(prefix)), None)
        self.tally.seconds[label or "db: other statements"] += elapsed

    def _before_commit(self, conn: Any) -> None:
        """The engine's ``commit`` fires before COMMIT is sent; the session's ``after_commit``
        after it returned (WAL flushed: ``synchronous_commit`` is on)."""
        self._commit_started = time.perf_counter()

    def _after_commit(self, session: Any) -> None:
        if self._commit_started:
            self.tally.seconds[COMMIT_LABEL] += time.perf_counter() - self._commit_started
            self._commit_started = 0.0


def work(
    job: Job, indexes: Iterable[int], report: Callable[[int, Tally], None] | None = None
) -> Tally:
    """Ingest the batches ``indexes`` in this process (the single-process mode, and profiling);
    ``report(batches done, tally)`` after each batch."""
    ingester = Ingester(job)
    try:
        for done, index in enumerate(indexes, start=1):
            ingester.run(index)
            if report is not None:
                report(done, ingester.tally)
        ingester.finish_breakdown()
        return ingester.tally
    finally:
        ingester.close()


def worker_main(job: Job, todo: Any, ready: Any, go: Any, done: Any) -> None:
    """A worker process: connect, say ready, wait for go, take batch indexes until a None.

    Ctrl-C is left to the parent, which terminates its workers; should the parent die
    without that, the kernel sends SIGTERM (``PR_SET_PDEATHSIG``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    ingester = Ingester(job)
    try:
        ready.put(True)
        if not go.wait(timeout=300):
            return
        while (index := todo.get(timeout=30)) is not None:
            ingester.run(index)
        ingester.finish_breakdown()
        done.put(ingester.tally)
    except BaseException as error:
        done.put(f"{type(error).__name__}: {error}")
        raise
    finally:
        ingester.close()
