"""The worker sends Alipay mini-program messages through the Alipay SDK to the emulator."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from miniapp_api.db import utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.settings import NotifySettings
from tests.integration.notify.conftest import ALIPAY_SEND, EmulatorInbox, Outbox
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE


@pytest.fixture
def platform() -> str:
    return "alipay"


def test_an_alipay_message_is_sent_once(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued, stats = outbox.push(accepts=1)

    assert stats.sent == 1
    assert worker.run_once(utcnow() + timedelta(days=1)).claimed == 0

    [message] = inbox.to(queued.subject)
    assert message["platform"] == "alipay"
    assert message["template_id"] == ALIPAY_TEMPLATE
    assert message["page"] == "pages/results/index"
    assert message["data"] == {
        "keyword1": "张*",
        "keyword2": "阴性",
        "keyword3": "2022年3月16日 15:01",
        "keyword4": queued.tube_no,
        "keyword5": "2022-03-16 浦东",
    }
    assert outbox.row(queued).status == "sent"
    assert outbox.remaining(queued) == 0


def test_alipay_20000_is_retried_then_sent(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=1)
    inbox.fault("alipay", ALIPAY_SEND, errcode="20000")
    now = utcnow()

    assert worker.run_once(now).retried == 1
    row = outbox.row(queued)
    assert row.status == "pending"
    # Alipay asks for 2 s at least (channels/alipay/errors.py); our base is 2 s too.
    assert (row.next_attempt_at - now).total_seconds() >= 2.0
    assert outbox.remaining(queued) == 1

    inbox.clear_fault("alipay", ALIPAY_SEND)
    assert worker.run_once(row.next_attempt_at).sent == 1
    assert len(inbox.to(queued.subject)) == 1


def test_alipay_refusal_is_recorded_and_never_retried(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=2)
    inbox.fault("alipay", ALIPAY_SEND, errcode="USER_TEMPLATE_ILLEGAL")

    assert worker.run_once(utcnow()).refused == 1
    inbox.clear_fault("alipay", ALIPAY_SEND)
    assert worker.run_once(utcnow() + timedelta(days=1)).claimed == 0

    assert outbox.row(queued).status == "refused"
    assert outbox.remaining(queued) == 0
    assert inbox.to(queued.subject) == []


def test_one_batch_serves_both_platforms(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    on_wechat = outbox.queue(platform="wechat")
    on_alipay = outbox.queue(platform="alipay")

    assert worker.run_once(utcnow()).sent == 2

    assert inbox.to(on_wechat.subject)[0]["template_id"] == WECHAT_TEMPLATE
    assert inbox.to(on_alipay.subject)[0]["template_id"] == ALIPAY_TEMPLATE


def test_a_platform_without_a_template_fails_its_rows_and_spends_nothing(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    wechat_only = NotifySettings(wechat_template_id=WECHAT_TEMPLATE)
    queued = outbox.queue(accepts=1)

    assert dataclasses.replace(worker, settings=wechat_only).run_once(utcnow()).failed == 1

    row = outbox.row(queued)
    assert (row.status, row.attempts) == ("failed", 0)
    assert "not configured" in (row.last_error or "")
    assert outbox.remaining(queued) == 1
    assert inbox.to(queued.subject) == []
