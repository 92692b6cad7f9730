"""The outbox backlog on ``/metrics``: due pushes not yet sent, read from the database per scrape.

The figures are the database's, not a process's, so they are not kept in a ``Gauge``: under
gunicorn that is a file per worker, listed per pid, stale in every worker but the one that last
set it. A collector asked once per scrape (:func:`miniapp_api.overload.metrics.exposition`)
reports the one figure every node and worker agrees on; the alert takes the ``max`` over nodes.

A database that fails or is slow leaves the two figures out of that scrape and sets
``miniapp_outbox_backlog_up`` to 0: the admission counters beside them are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from miniapp_api.db import Database, as_utc, utcnow
from miniapp_api.dialects import is_postgresql
from miniapp_api.notify.retry import Status
from miniapp_api.results.models import OutboxMessage

log = logging.getLogger(__name__)

# Far under Prometheus' default scrape timeout (10 s): a database that is locked or overloaded
# costs this scrape its backlog figures, never the admission counters. The query itself takes
# ~0.2 s with a million due rows (it counts them through ix_outbox_due), milliseconds otherwise.
STATEMENT_TIMEOUT_MS = 2000

PENDING = "miniapp_outbox_pending"
OLDEST = "miniapp_outbox_oldest_pending_seconds"
UP = "miniapp_outbox_backlog_up"


@dataclass(frozen=True)
class Backlog:
    """Due pending outbox rows (a worker's lease on some of them included) and the oldest's
    wait."""

    pending: int
    oldest_seconds: float  # since the oldest became due; 0 when none is


def read_backlog(session: Session, *, now: datetime) -> Backlog:
    """One statement over the partial index ``ix_outbox_due`` (status pending, by due time)."""
    if is_postgresql(session):
        # SET LOCAL: for this transaction only, so the pooled connection goes back unchanged.
        session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == Status.PENDING, OutboxMessage.next_attempt_at <= now
        )
    ).one()
    waited = 0.0 if oldest is None else max(0.0, (now - as_utc(oldest)).total_seconds())
    return Backlog(int(pending), waited)


class OutboxBacklog(Collector):
    """The collector of :data:`PENDING`, :data:`OLDEST` and :data:`UP`, for one app's
    database."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            PENDING, "Result push messages due and still pending in the outbox (whole database)."
        )
        oldest = GaugeMetricFamily(
            OLDEST,
            "Seconds since the oldest due push message still pending became due; 0 when none is.",
        )
        up = GaugeMetricFamily(
            UP, "1 if this scrape read the outbox backlog from the database, 0 if it could not."
        )
        try:
            with self.db.session() as session, session.begin():
                backlog = read_backlog(session, now=self.clock())
        except SQLAlchemyError as exc:
            # Only the type: a driver's message can quote statement parameters.
            log.warning("outbox backlog: database unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
        else:
            pending.add_metric([], backlog.pending)
            oldest.add_metric([], backlog.oldest_seconds)
            up.add_metric([], 1)
        # Declared even without a sample, so /metrics always lists every name the rules use.
        yield from (pending, oldest, up)
