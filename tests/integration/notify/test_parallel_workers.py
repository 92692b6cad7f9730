"""Workers in parallel (threads, each with its own engine and sessions) never send a row twice."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import timedelta
from typing import Protocol

import pytest
from sqlalchemy import select

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.worker import PushWorker, Stats
from miniapp_api.results.models import OutboxMessage
from tests.integration.notify.conftest import EmulatorInbox, Outbox
from tests.support.factories import Queued

ROWS = 24


class RunWorkers(Protocol):
    def __call__(self, *, batch_size: int, lease: timedelta, count: int = 2) -> list[Stats]: ...


@pytest.fixture
def run_workers(worker: PushWorker, postgres_url: str) -> RunWorkers:
    """``run_workers(batch_size=..., lease=..., count=...)`` starts ``count`` workers together,
    each with its own engine; each runs batches until it finds nothing due. Their counts."""

    def run(*, batch_size: int, lease: timedelta, count: int = 2) -> list[Stats]:
        settings = dataclasses.replace(worker.settings, batch_size=batch_size)
        start = threading.Barrier(count)
        totals = [Stats() for _ in range(count)]
        errors: list[BaseException] = []

        def work(total: Stats) -> None:
            db = Database(postgres_url, pool_size=2)
            own = dataclasses.replace(worker, db=db, settings=settings, lease=lease)
            try:
                start.wait()
                while (stats := own.run_once(utcnow())).claimed:
                    for name, value in stats.as_dict().items():
                        setattr(total, name, getattr(total, name) + value)
            except BaseException as exc:  # surfaced by the test thread below
                errors.append(exc)
            finally:
                db.dispose()

        threads = [threading.Thread(target=work, args=(t,)) for t in totals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        return totals

    return run


@pytest.fixture
def queued(outbox: Outbox) -> list[Queued]:
    return [outbox.queue(accepts=1, platform="wechat" if i % 2 else "alipay") for i in range(ROWS)]


def delivered(inbox: EmulatorInbox) -> Counter[str]:
    return Counter(str(m.get("touser") or m.get("to")) for m in inbox.messages())


def test_two_workers_share_the_rows_and_send_each_exactly_once(
    db: Database, inbox: EmulatorInbox, queued: list[Queued], run_workers: RunWorkers
) -> None:
    inbox.fault("wechat", "subscribe_send", latency_ms=20)

    totals = run_workers(batch_size=3, lease=timedelta(minutes=5))

    assert sum(t.sent for t in totals) == ROWS
    assert all(t.sent > 0 for t in totals), totals  # both really worked
    assert sum(t.lost for t in totals) == 0
    assert delivered(inbox) == Counter({q.subject: 1 for q in queued})
    with db.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}


def test_even_with_a_lease_far_too_short_no_row_is_sent_twice(
    db: Database, inbox: EmulatorInbox, queued: list[Queued], run_workers: RunWorkers
) -> None:
    """Leases run out mid-batch, so workers take over each other's claims and reap each
    other's deliveries: messages may be lost (failed), never duplicated."""
    inbox.fault("wechat", "subscribe_send", latency_ms=30)

    run_workers(batch_size=4, lease=timedelta(milliseconds=40), count=3)

    counts = delivered(inbox)
    assert max(counts.values(), default=0) <= 1
    with db.session() as session:
        rows = session.execute(select(OutboxMessage.account_id, OutboxMessage.status)).all()
    sent = {account_id for account_id, status in rows if status == "sent"}
    by_account = {q.account_id: q.subject for q in queued}
    assert {by_account[a] for a in sent} <= set(counts)
    assert {status for _, status in rows} <= {"sent", "failed", "pending"}
