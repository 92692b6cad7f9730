"""The outbox backlog on ``/metrics``: due pushes not yet sent, and how long the oldest waited."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.backlog import OLDEST, PENDING, STATEMENT_TIMEOUT_MS, UP, OutboxBacklog
from miniapp_api.notify.worker import PushWorker
from miniapp_api.overload.metrics import exposition
from miniapp_api.results.models import OutboxMessage
from miniapp_api.wiring import EXTENSION_KEY, Wiring
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import Outbox
from tests.integration.ops.conftest import ON_INTERNAL_BIND, give_internal_bind
from tests.support.factories import Queued, queue_message

# Nothing listens here: connecting is refused at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def scrape(text_format: str) -> dict[str, list[float]]:
    """``{metric name: sample values}`` of every family in a /metrics body, samples or none."""
    return {
        family.name: [sample.value for sample in family.samples]
        for family in text_string_to_metric_families(text_format)
    }


@pytest.fixture(autouse=True)
def internal_bind(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app serves /metrics on its internal listener, where Prometheus scrapes it."""
    give_internal_bind(app, monkeypatch)


def backlog(client: FlaskClient) -> dict[str, list[float]]:
    """What Prometheus scrapes from the app's internal listener."""
    response = client.get("/metrics", environ_overrides=ON_INTERNAL_BIND)
    assert response.status_code == 200
    return scrape(response.get_data(as_text=True))


def due_at(db: Database, queued: Queued, moment: datetime) -> None:
    with db.session() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == queued.outbox_id)
            .values(next_attempt_at=moment)
        )


def test_due_messages_are_counted_with_the_wait_of_the_oldest(
    client: FlaskClient, outbox: Outbox, db: Database
) -> None:
    oldest, _, _, retry_later = (outbox.queue() for _ in range(4))
    due_at(db, oldest, utcnow() - timedelta(minutes=2))
    due_at(db, retry_later, utcnow() + timedelta(minutes=5))  # backing off: not due yet

    found = backlog(client)

    assert found[PENDING] == [3]
    [waited] = found[OLDEST]
    assert 120 <= waited < 150
    assert found[UP] == [1]


def test_sent_and_given_up_messages_do_not_count(
    client: FlaskClient, outbox: Outbox, worker: PushWorker, db: Database
) -> None:
    sent, given_up = outbox.queue(accepts=1), outbox.queue(accepts=1)
    with db.session() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == given_up.outbox_id)
            .values(status="failed", last_error="test")
        )
    assert worker.run_once(utcnow()).sent == 1
    assert outbox.row(sent).status == "sent"

    found = backlog(client)

    assert (found[PENDING], found[OLDEST], found[UP]) == ([0], [0], [1])


def test_a_leased_message_still_counts_until_it_is_sent(
    client: FlaskClient, outbox: Outbox, db: Database
) -> None:
    queued = outbox.queue()
    with db.session() as session, session.begin():  # a worker claimed it and has not begun
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == queued.outbox_id)
            .values(claimed_until=utcnow() + timedelta(minutes=5))
        )

    assert backlog(client)[PENDING] == [1]


def test_on_sqlite_the_backlog_is_read_too(
    embedded_app: Flask, platform_keys: PlatformKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_internal_bind(embedded_app, monkeypatch)
    db = embedded_app.extensions[EXTENSION_KEY].db
    queued = queue_message(db, "wechat", platform_keys.wechat_app_id)
    due_at(db, queued, utcnow() - timedelta(minutes=2))

    found = backlog(embedded_app.test_client())

    assert (found[PENDING], found[UP]) == ([1], [1])
    assert 120 <= found[OLDEST][0] < 150


@pytest.fixture
def unreachable(app: Flask, wire: Wiring, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's database is down (connections refused); Redis and the rest are up."""
    down = Database(UNREACHABLE, pool_size=1)
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, dataclasses.replace(wire, db=down))
    yield
    down.dispose()


@pytest.mark.usefixtures("unreachable")
def test_a_database_outage_leaves_out_the_backlog_not_the_admission_counters(
    client: FlaskClient,
) -> None:
    assert client.get("/api/v1/codes/keys").status_code == 200  # counted by admission

    found = backlog(client)

    assert found[UP] == [0]
    assert found[PENDING] == found[OLDEST] == []  # declared, no value: absent, not zero
    assert found["miniapp_admission"]  # the counters are still served


def test_a_locked_outbox_costs_the_scrape_its_backlog_not_its_deadline(
    client: FlaskClient, outbox: Outbox, db: Database
) -> None:
    outbox.queue()
    with db.engine.connect() as locker:
        # Should the scrape wait for the lock regardless, the server ends this transaction after
        # 10 s and the test fails instead of hanging.
        locker.execute(text("SET LOCAL idle_in_transaction_session_timeout = '10s'"))
        locker.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
        began = time.monotonic()
        found = backlog(client)
        took = time.monotonic() - began
        locker.rollback()

    assert found[UP] == [0]
    assert found[PENDING] == []
    assert STATEMENT_TIMEOUT_MS / 1000 <= took < STATEMENT_TIMEOUT_MS / 1000 + 3


def test_under_gunicorn_the_backlog_is_reported_once_not_per_worker_file(
    outbox: Outbox, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox.queue()
    outbox.queue()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for pid in (1, 2):  # two gunicorn workers have counted 3 requests each
        worker_file = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        key = mmap_key("miniapp_test_requests", "miniapp_test_requests_total", [], [], "Requests.")
        worker_file.write_value(key, 3.0, 0.0)
        worker_file.close()

    found = scrape(exposition(OutboxBacklog(db))[0].decode())

    assert found["miniapp_test_requests"] == [6]  # the workers' files, added up
    assert (found[PENDING], found[UP]) == ([2], [1])
