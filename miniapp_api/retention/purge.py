"""Delete what outlived its retention period ([RETENTION]), kind by kind, in short batches.

The kinds, in this order (a later one never needs an earlier one's rows):

* ``results``: tube results tested more than RESULTS_DAYS ago, with their amendments, the
  person results of their people and those samplings (and the read model's entries of them);
* ``samplings``: samplings that never got a result, scanned more than SAMPLINGS_DAYS ago;
* ``codes``: registration codes expired, or revoked, more than EXPIRED_CODES_DAYS ago;
* ``outbox``: push outbox rows delivered (or given up) and queued more than OUTBOX_DAYS ago;
* ``notices``: family-link notices pushed (or not to be) and made more than NOTICES_DAYS ago;
* ``receipts``: staff scan receipts made more than RESULTS_DAYS ago (they hold a masked name
  and an ID number's last four, so they go with the results);
* ``lab_requests``: labs' idempotency records made more than LAB_REQUESTS_DAYS ago;
* ``audit``: audit events older than AUDIT_DAYS, whole chain prefixes, with their anchors.

Every batch is one transaction of at most about BATCH_SIZE rows of its leading table, chosen by
an indexed predicate and deleted by key (``batches.py``), followed by a pause of PAUSE_FACTOR
times its duration, so that the service keeps most of the database. On PostgreSQL each
transaction sets a short ``lock_timeout`` and ``statement_timeout``: a batch that would wait on
a row lock (a lab amending a result, a worker settling a push) is rolled back, retried after a
pause, and after a few tries its kind is skipped until the next run. Each batch commits whole or
not at all, and what it deletes is chosen afresh from the database, so a purge killed at any
point is resumed by running it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy import Select, exists, func, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from miniapp_api.audit.models import AuditEvent
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.db import Database
from miniapp_api.dialects import is_postgresql
from miniapp_api.lab.models import LabRequest
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.models import Notice
from miniapp_api.results.models import (
    OUTBOX_FINISHED,
    OutboxMessage,
    PersonResult,
    TubeResult,
    TubeResultAmendment,
)
from miniapp_api.retention import batches
from miniapp_api.retention.batches import Step
from miniapp_api.sampling.models import Sampling, ScanReceipt
from miniapp_api.settings import RetentionSettings

log = logging.getLogger(__name__)

# A batch waits at most this long for a row lock before it gives way to the application.
LOCK_TIMEOUT = "500ms"
# No batch statement should come near this (a batch is a few index range scans and deletes
# by key); if one does, an index is missing, and it stops instead of holding its locks.
STATEMENT_TIMEOUT = "15s"
TRIES = 4  # per batch; then the kind waits for the next run
PAUSE_SECONDS = 0.5  # before a retry, doubled each time
# lock_not_available (lock_timeout), query_canceled (statement_timeout), deadlock_detected,
# serialization_failure: the batch is rolled back whole, so it can simply run again.
_RETRIED_SQLSTATES = frozenset({"55P03", "57014", "40P01", "40001"})


class Kind(StrEnum):
    RESULTS = "results"
    SAMPLINGS = "samplings"
    CODES = "codes"
    OUTBOX = "outbox"
    NOTICES = "notices"
    RECEIPTS = "receipts"
    LAB_REQUESTS = "lab_requests"
    AUDIT = "audit"


@dataclass(frozen=True)
class Purge:
    """What one run needs: the database, the Redis read model of results, the periods, and
    the moment the periods count back from."""

    db: Database
    readmodel: ResultReadModel
    settings: RetentionSettings
    now: datetime

    def cutoff(self, kind: Kind) -> datetime:
        s = self.settings
        days = {
            Kind.RESULTS: s.results_days,
            Kind.SAMPLINGS: s.samplings_days,
            Kind.CODES: s.expired_codes_days,
            Kind.OUTBOX: s.outbox_days,
            Kind.NOTICES: s.notices_days,
            Kind.RECEIPTS: s.results_days,
            Kind.LAB_REQUESTS: s.lab_requests_days,
            Kind.AUDIT: s.audit_days,
        }[kind]
        if days < 1:
            raise ValueError(f"RETENTION: the period of {kind} must be at least 1 day")
        return self.now - timedelta(days=days)

    def steps(self, kind: Kind) -> list[Callable[[Session], Step]]:
        """The batch functions of ``kind``, each run until it is done, in order."""
        b, n = self.cutoff(kind), self.settings.batch_size
        match kind:
            case Kind.RESULTS:
                return [partial(batches.results, before=b, limit=n, readmodel=self.readmodel)]
            case Kind.SAMPLINGS:
                return [partial(batches.samplings, before=b, limit=n, readmodel=self.readmodel)]
            case Kind.CODES:
                return [
                    partial(batches.codes_expired, before=b, limit=n),
                    partial(batches.codes_revoked, before=b, limit=n),
                ]
            case Kind.OUTBOX:
                return [partial(batches.outbox, before=b, limit=n)]
            case Kind.NOTICES:
                return [partial(batches.notices, before=b, limit=n)]
            case Kind.RECEIPTS:
                return [partial(batches.scan_receipts, before=b, limit=n)]
            case Kind.LAB_REQUESTS:
                return [partial(batches.lab_requests, before=b, limit=n)]
            case Kind.AUDIT:
                return [partial(batches.audit, before=b, limit=n, now=self.now)]


@dataclass
class PurgeReport:
    """What a run deleted, per kind and table, and how its batches went."""

    deleted: dict[Kind, Counter[str]] = field(default_factory=dict)
    batches: int = 0
    longest_batch_seconds: float = 0.0
    skipped: list[Kind] = field(default_factory=list)  # gave way to row locks; next run
    stopped: bool = False  # asked to stop (a worker shutting down, the lock lost)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(sum(c.values()) for c in self.deleted.values())

    def lines(self) -> list[str]:
        """One line per kind: ``results: person_results=10 samplings=10 ...``."""
        out = []
        for kind, counts in self.deleted.items():
            tables = " ".join(f"{t}={n}" for t, n in counts.items()) or "nothing"
            skipped = (
                " (skipped: rows locked; the next run goes on)" if kind in self.skipped else ""
            )
            out.append(f"{kind}: {tables}{skipped}")
        return out


def purge(
    job: Purge,
    *,
    kinds: tuple[Kind, ...] = tuple(Kind),
    stop: threading.Event | None = None,
    keep_going: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PurgeReport:
    """Run every batch of ``kinds`` until each is done. Between batches, ``stop`` (set) or
    ``keep_going`` (false: e.g. the schedule's lock was lost) ends the run early."""
    report, started = PurgeReport(), time.monotonic()
    for kind in Kind:
        if kind not in kinds:
            continue
        counts = report.deleted.setdefault(kind, Counter())
        for step in job.steps(kind):
            while True:
                if (stop is not None and stop.is_set()) or (keep_going and not keep_going()):
                    report.stopped = True
                    report.seconds = time.monotonic() - started
                    return report
                began = time.monotonic()
                outcome = _transaction(job.db, step, sleep)
                took = time.monotonic() - began
                report.batches += 1
                report.longest_batch_seconds = max(report.longest_batch_seconds, took)
                if outcome is None:
                    report.skipped.append(kind)
                    break
                counts.update({t: n for t, n in outcome.deleted.items() if n})
                if outcome.done:
                    break
                pause = job.settings.pause_factor * took
                if stop is not None:
                    stop.wait(pause)
                elif pause > 0:
                    sleep(pause)
            if kind in report.skipped:
                break
    report.seconds = time.monotonic() - started
    return report


def _transaction(
    db: Database, step: Callable[[Session], Step], sleep: Callable[[float], None]
) -> Step | None:
    """One batch in its own transaction; ``None`` if it kept waiting on locks."""
    for attempt in range(TRIES):
        try:
            with db.session() as session, session.begin():
                if is_postgresql(session):
                    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                    session.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
                outcome = step(session)
        except DBAPIError as exc:
            if not _retried(exc):
                raise
            log.info("retention: a batch gave way to locks (try %d of %d)", attempt + 1, TRIES)
            sleep(PAUSE_SECONDS * 2**attempt)
            continue
        return outcome
    return None


def _retried(exc: DBAPIError) -> bool:
    """A lock or statement timeout on PostgreSQL, a busy database on SQLite."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _RETRIED_SQLSTATES or "database is locked" in str(exc.orig)


def expired_counts(job: Purge, kinds: tuple[Kind, ...] = tuple(Kind)) -> dict[Kind, Counter[str]]:
    """What :func:`purge` would delete now, per kind and table (``--dry-run``): counts only.

    Each is one ``count(*)`` over the kind's predicate, so on large tables this reads every
    row it counts. Audit events count every row past the period (a chain's rows behind a
    younger one wait); samplings count those never tested.
    """
    counts: dict[Kind, Counter[str]] = {}
    with job.db.session() as session:
        for kind in Kind:
            if kind in kinds:
                found = {
                    t: int(session.scalar(q) or 0) for t, q in _count_queries(job, kind).items()
                }
                counts[kind] = Counter(found)
        session.rollback()
    return counts


def _count_queries(job: Purge, kind: Kind) -> Mapping[str, Select[int]]:
    before = job.cutoff(kind)
    count = select(func.count())
    match kind:
        case Kind.RESULTS:
            old = TubeResult.tested_at < before
            people = (
                count.select_from(Sampling)
                .join(TubeResult, TubeResult.tube_id == Sampling.tube_id)
                .where(old)
            )
            return {
                "person_results": count.select_from(PersonResult)
                .join(Sampling, Sampling.id == PersonResult.sampling_id)
                .join(TubeResult, TubeResult.tube_id == Sampling.tube_id)
                .where(old),
                "tube_result_amendments": count.select_from(TubeResultAmendment)
                .join(TubeResult, TubeResult.id == TubeResultAmendment.tube_result_id)
                .where(old),
                "tube_results": count.select_from(TubeResult).where(old),
                "samplings": people,
            }
        case Kind.SAMPLINGS:
            untested = ~exists().where(PersonResult.sampling_id == Sampling.id)
            return {
                "samplings": count.select_from(Sampling).where(
                    Sampling.scanned_at < before, untested
                )
            }
        case Kind.CODES:
            ended = or_(RegistrationCode.expires_at < before, RegistrationCode.revoked_at < before)
            return {"registration_codes": count.select_from(RegistrationCode).where(ended)}
        case Kind.OUTBOX:
            finished = text(OUTBOX_FINISHED) & (OutboxMessage.created_at < before)
            return {"outbox": count.select_from(OutboxMessage).where(finished)}
        case Kind.NOTICES:
            over = Notice.push_status.not_in(batches.NOTICE_STILL_PUSHING)
            return {"notices": count.select_from(Notice).where(Notice.created_at < before, over)}
        case Kind.RECEIPTS:
            old = ScanReceipt.created_at < before
            return {"scan_receipts": count.select_from(ScanReceipt).where(old)}
        case Kind.LAB_REQUESTS:
            old = LabRequest.created_at < before
            return {"lab_requests": count.select_from(LabRequest).where(old)}
        case Kind.AUDIT:
            return {"audit_events": count.select_from(AuditEvent).where(AuditEvent.at < before)}
