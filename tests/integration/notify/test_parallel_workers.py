"""Workers in parallel (threads, each with its own engine and sessions) never send a row twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

import pytest
from sqlalchemy import select

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.worker import PushWorker, Stats
from miniapp_api.results.models import OutboxMessage
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox
from tests.integration.notify.factories import Queued, queue_message

ROWS = 24


def run_workers(
    url: str,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    lease: timedelta,
    count: int = 2,
) -> list[Stats]:
    """Start ``count`` workers together; each runs batches until it finds nothing due."""
    start = threading.Barrier(count)
    totals = [Stats() for _ in range(count)]
    errors: list[BaseException] = []

    def work(total: Stats) -> None:
        db = Database(url, pool_size=2)
        try:
            start.wait()
            while (
                stats := PushWorker(db, channels, settings, lease=lease).run_once(utcnow())
            ).claimed:
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


@pytest.fixture
def queued(db: Database, platform_keys: PlatformKeys) -> list[Queued]:
    return [
        queue_message(db, "wechat", platform_keys.wechat_app_id, accepts=1)
        if i % 2
        else queue_message(db, "alipay", platform_keys.alipay_app_id, accepts=1)
        for i in range(ROWS)
    ]


def delivered(inbox: EmulatorInbox) -> Counter[str]:
    return Counter(str(m.get("touser") or m.get("to")) for m in inbox.messages())


def test_two_workers_share_the_rows_and_send_each_exactly_once(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    postgres_url: str,
    queued: list[Queued],
) -> None:
    small_batches = NotifySettings(**{**settings.__dict__, "batch_size": 3})
    inbox.fault("wechat", "subscribe_send", latency_ms=20)

    totals = run_workers(postgres_url, channels, small_batches, lease=timedelta(minutes=5))

    assert sum(t.sent for t in totals) == ROWS
    assert all(t.sent > 0 for t in totals), totals  # both really worked
    assert sum(t.lost for t in totals) == 0
    assert delivered(inbox) == Counter({q.subject: 1 for q in queued})
    with db.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}


def test_even_with_a_lease_far_too_short_no_row_is_sent_twice(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    postgres_url: str,
    queued: list[Queued],
) -> None:
    """Leases run out mid-batch, so workers take over each other's claims and reap each
    other's deliveries: messages may be lost (failed), never duplicated."""
    inbox.fault("wechat", "subscribe_send", latency_ms=30)
    small_batches = NotifySettings(**{**settings.__dict__, "batch_size": 4})

    run_workers(postgres_url, channels, small_batches, lease=timedelta(milliseconds=40), count=3)

    counts = delivered(inbox)
    assert max(counts.values(), default=0) <= 1
    with db.session() as session:
        rows = session.execute(select(OutboxMessage.account_id, OutboxMessage.status)).all()
    sent = {account_id for account_id, status in rows if status == "sent"}
    by_account = {q.account_id: q.subject for q in queued}
    assert {by_account[a] for a in sent} <= set(counts)
    assert {status for _, status in rows} <= {"sent", "failed", "pending"}
