"""The worker sends WeChat subscribe messages through wechatpy to the emulator."""

from __future__ import annotations

import dataclasses
import socket
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import delete

from channels.base import Platform
from channels.wechat import WechatChannel
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.results.models import OutboxMessage, PersonResult
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox, Outbox
from tests.support.factories import WECHAT_TEMPLATE
from tests.support.sensitive import LOG_BUFFER


def test_a_message_is_sent_once_and_spends_one_acceptance(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued, stats = outbox.push(accepts=2)

    assert (stats.claimed, stats.sent) == (1, 1)
    [message] = inbox.to(queued.subject)
    assert message["template_id"] == WECHAT_TEMPLATE
    assert message["page"] == "pages/results/index"
    assert message["data"] == {
        "thing1": {"value": "张*"},
        "phrase2": {"value": "阴性"},
        "time3": {"value": "2022年3月16日 15:01"},
        "character_string4": {"value": queued.tube_no},
        "thing5": {"value": "2022-03-16 浦东"},
    }
    row = outbox.row(queued)
    assert (row.status, row.attempts, row.claimed_until) == ("sent", 1, None)
    assert row.sent_at is not None
    assert row.platform_message_id == str(message["msgid"])
    assert outbox.remaining(queued) == 1


def test_a_message_whose_result_is_gone_is_failed_not_sent(
    worker: PushWorker, outbox: Outbox, db: Database, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=1)
    with db.session() as session, session.begin():
        row = session.get_one(OutboxMessage, queued.outbox_id)
        session.execute(delete(PersonResult).where(PersonResult.id == row.person_result_id))

    assert worker.run_once(utcnow()).failed == 1

    assert inbox.to(queued.subject) == []
    row = outbox.row(queued)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        0,
        "the result or the account is gone",
    )
    assert outbox.remaining(queued) == 1


def test_a_sent_message_is_never_sent_again(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued, _ = outbox.push(accepts=5)

    for later in (timedelta(minutes=10), timedelta(days=2)):
        assert worker.run_once(utcnow() + later).claimed == 0

    assert len(inbox.to(queued.subject)) == 1
    assert outbox.remaining(queued) == 4


def test_without_an_acceptance_nothing_is_sent(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=0)
    calls = inbox.wechat_sends()

    stats = worker.run_once(utcnow())

    assert stats.no_subscription == 1
    assert outbox.row(queued).status == "no_subscription"
    assert outbox.row(queued).attempts == 0
    assert inbox.wechat_sends() == calls
    assert worker.run_once(utcnow() + timedelta(hours=1)).claimed == 0


def test_one_acceptance_pays_for_one_of_two_messages(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    first = outbox.queue(accepts=1)
    second = outbox.queue(account_id=first.account_id)

    stats = worker.run_once(utcnow())

    assert (stats.sent, stats.no_subscription) == (1, 1)
    assert len(inbox.to(first.subject)) == 1
    statuses = {outbox.row(q).status for q in (first, second)}
    assert statuses == {"sent", "no_subscription"}
    assert outbox.remaining(first) == 0


def test_refused_43101_is_recorded_and_never_retried(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=3)
    inbox.refuse(queued.subject)

    stats = worker.run_once(utcnow())
    calls = inbox.wechat_sends()

    assert stats.refused == 1
    row = outbox.row(queued)
    assert row.status == "refused"
    assert "43101" in (row.last_error or "")
    # WeChat says no acceptance is left, whatever we counted.
    assert outbox.remaining(queued) == 0
    for later in (timedelta(minutes=5), timedelta(days=1)):
        assert worker.run_once(utcnow() + later).claimed == 0
    assert inbox.wechat_sends() == calls
    assert inbox.to(queued.subject) == []


@pytest.mark.parametrize("errcode", [45011, -1])
def test_throttled_or_busy_is_retried_with_backoff_then_sent(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox, errcode: int
) -> None:
    queued = outbox.queue(accepts=1)
    inbox.fault("wechat", "subscribe_send", errcode=errcode)
    now = utcnow()

    assert worker.run_once(now).retried == 1

    row = outbox.row(queued)
    assert (row.status, row.attempts) == ("pending", 1)
    assert str(errcode) in (row.last_error or "")
    # The platform answered "no": nothing was delivered, so the acceptance is back.
    assert outbox.remaining(queued) == 1
    wait = (row.next_attempt_at - now).total_seconds()
    assert 2.0 <= wait <= 2.0 * 1.5 + 1  # base 2 s, up to 50% jitter, plus the batch's time
    assert worker.run_once(now + timedelta(seconds=1)).claimed == 0

    inbox.fault("wechat", "subscribe_send", errcode=errcode)  # still failing: 2nd attempt
    assert worker.run_once(row.next_attempt_at).retried == 1
    second = outbox.row(queued)
    assert second.attempts == 2
    assert (second.next_attempt_at - row.next_attempt_at).total_seconds() >= 4.0  # doubled

    inbox.clear_fault("wechat", "subscribe_send")
    assert worker.run_once(second.next_attempt_at).sent == 1
    assert len(inbox.to(queued.subject)) == 1
    sent = outbox.row(queued)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, None)
    assert outbox.remaining(queued) == 0


def test_after_max_attempts_the_message_fails(
    worker: PushWorker, outbox: Outbox, settings: NotifySettings, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=1)
    inbox.fault("wechat", "subscribe_send", errcode=45011)
    when = utcnow()

    for _ in range(settings.max_attempts):
        worker.run_once(when)
        when = outbox.row(queued).next_attempt_at

    row = outbox.row(queued)
    assert (row.status, row.attempts) == ("failed", settings.max_attempts)
    assert outbox.remaining(queued) == 1  # never delivered
    inbox.clear_fault("wechat", "subscribe_send")
    assert worker.run_once(when + timedelta(days=1)).claimed == 0
    assert inbox.to(queued.subject) == []


def test_an_answer_that_may_hide_a_delivery_is_not_retried(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=2)
    inbox.fault("wechat", "subscribe_send", errcode="http_503")

    assert worker.run_once(utcnow()).failed == 1

    row = outbox.row(queued)
    assert row.status == "failed"
    assert (row.last_error or "").startswith("delivery unknown")
    assert outbox.remaining(queued) == 1  # the spent one stays spent
    inbox.clear_fault("wechat", "subscribe_send")
    assert worker.run_once(utcnow() + timedelta(days=1)).claimed == 0


def test_a_timed_out_call_that_was_delivered_is_not_sent_twice(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    """The adapter times out after 1 s; the emulator delivers after 1.3 s anyway."""
    queued = outbox.queue(accepts=2)
    inbox.fault("wechat", "subscribe_send", latency_ms=1300)

    assert worker.run_once(utcnow()).failed == 1
    inbox.clear_fault("wechat", "subscribe_send")
    worker.run_once(utcnow() + timedelta(days=1))

    assert outbox.row(queued).status == "failed"
    deadline = time.monotonic() + 3
    while not inbox.to(queued.subject) and time.monotonic() < deadline:
        time.sleep(0.05)  # the emulator is still "delivering"
    assert len(inbox.to(queued.subject)) == 1


def test_a_platform_that_cannot_be_reached_is_retried(
    worker: PushWorker, outbox: Outbox, platform_keys: PlatformKeys, redis_client: redis.Redis
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    unreachable = WechatChannel(
        platform_keys.wechat_app_id,
        platform_keys.wechat_app_secret,
        f"http://127.0.0.1:{closed}",
        redis_client,
        1.0,
    )
    queued = outbox.queue(accepts=1)

    stats = dataclasses.replace(worker, channels={Platform.WECHAT: unreachable}).run_once(utcnow())

    assert stats.retried == 1
    row = outbox.row(queued)
    assert (row.status, row.attempts) == ("pending", 1)
    assert outbox.remaining(queued) == 1  # the request never left


def test_log_lines_name_the_outbox_row_never_the_openid(worker: PushWorker, outbox: Outbox) -> None:
    sent = outbox.queue(accepts=1)
    unsent = outbox.queue(accepts=0)

    worker.run_once(utcnow())

    logs = LOG_BUFFER.getvalue()
    assert f'"outbox_id": {sent.outbox_id}, "status": "sent"' in logs
    assert f'"outbox_id": {unsent.outbox_id}, "status": "no_subscription"' in logs
    assert sent.subject not in logs
    assert unsent.subject not in logs
