"""The worker and the subscription count on SQLite, the embedded default (``make run``).

PostgreSQL is what production runs and what the other tests use; this only checks that the
SQL (upserts, RETURNING, the FOR UPDATE clause SQLite drops) works on the embedded database.
The platforms are the in-memory fake channel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from channels.base import Platform
from channels.fake import FakeChannel
from miniapp_api.db import Database, utcnow
from miniapp_api.migrate import upgrade
from miniapp_api.notify import service
from miniapp_api.notify.worker import PushWorker, claim_batch
from miniapp_api.residents.models import Account
from miniapp_api.settings import NotifySettings
from tests.integration.notify.conftest import Outbox
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE

SETTINGS = NotifySettings(wechat_template_id=WECHAT_TEMPLATE, alipay_template_id=ALIPAY_TEMPLATE)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    database = Database(url, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture
def fakes() -> dict[Platform, FakeChannel]:
    return {p: FakeChannel(p) for p in Platform}


@pytest.fixture
def channels(fakes: dict[Platform, FakeChannel]) -> dict[Platform, FakeChannel]:
    return fakes


@pytest.fixture
def settings() -> NotifySettings:
    return SETTINGS


@pytest.fixture
def app_ids() -> dict[str, str]:
    return {"wechat": "wx-app", "alipay": "ali-app"}


def test_rows_are_sent_once_on_sqlite(
    worker: PushWorker, outbox: Outbox, fakes: dict[Platform, FakeChannel]
) -> None:
    on_wechat = outbox.queue(accepts=1, platform="wechat")
    on_alipay = outbox.queue(accepts=2, platform="alipay")

    assert worker.run_once(utcnow()).sent == 2
    assert worker.run_once(utcnow() + timedelta(days=1)).claimed == 0

    assert [m["to"] for m in fakes[Platform.WECHAT].sent] == [on_wechat.subject]
    assert [m["to"] for m in fakes[Platform.ALIPAY].sent] == [on_alipay.subject]
    assert outbox.row(on_wechat).status == "sent"
    assert outbox.remaining(on_alipay) == 1


def test_a_leased_row_is_not_claimed_twice_on_sqlite(db: Database, outbox: Outbox) -> None:
    outbox.queue()
    now = utcnow()
    lease = timedelta(minutes=1)

    first, _ = claim_batch(db, now, lease=lease, batch_size=10)
    second, _ = claim_batch(db, now, lease=lease, batch_size=10)
    after_lease, _ = claim_batch(db, now + lease * 2, lease=lease, batch_size=10)

    assert (len(first), len(second), len(after_lease)) == (1, 0, 1)


def test_acceptances_are_counted_and_capped_on_sqlite(db: Database) -> None:
    with db.session() as session, session.begin():
        account = Account(platform="wechat", app_id="wx-app", subject="o-sqlite")
        session.add(account)
    templates = service.template_ids(SETTINGS)

    for _ in range(service.MAX_REMAINING + 2):
        with db.session() as session:
            out = service.record_acceptances(
                session,
                account.public_id,
                accepted=[WECHAT_TEMPLATE],
                templates=templates,
                now=utcnow(),
            )

    assert [s.remaining for s in out.subscriptions] == [service.MAX_REMAINING]


def test_a_stopping_worker_hands_its_unstarted_claims_back(
    worker: PushWorker, outbox: Outbox
) -> None:
    queued = outbox.queue()
    stop = threading.Event()
    stop.set()

    stats = worker.run_once(utcnow(), stop=stop)

    assert (stats.claimed, stats.sent) == (1, 0)
    row = outbox.row(queued)
    assert (row.status, row.claimed_until) == ("pending", None)  # due again at once
    assert worker.run_once(utcnow()).sent == 1


def test_run_forever_sends_until_stopped(
    worker: PushWorker, outbox: Outbox, fakes: dict[Platform, FakeChannel]
) -> None:
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run_forever, args=(stop,), kwargs={"idle_seconds": 0.02}
    )
    thread.start()
    try:
        queued = [outbox.queue() for _ in range(3)]
        for _ in range(200):
            if len(fakes[Platform.WECHAT].sent) == 3:
                break
            stop.wait(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert {outbox.row(q).status for q in queued} == {"sent"}
    assert len(fakes[Platform.WECHAT].sent) == 3
