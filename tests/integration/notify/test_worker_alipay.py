"""The worker sends Alipay mini-program messages through the Alipay SDK to the emulator."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import ALIPAY_SEND, EmulatorInbox
from tests.integration.notify.factories import (
    ALIPAY_TEMPLATE,
    WECHAT_TEMPLATE,
    outbox_row,
    queue_message,
    remaining,
)


@pytest.fixture
def app_id(platform_keys: PlatformKeys) -> str:
    return platform_keys.alipay_app_id


def test_an_alipay_message_is_sent_once(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "alipay", app_id, accepts=1)

    assert PushWorker(db, channels, settings).run_once(utcnow()).sent == 1
    assert PushWorker(db, channels, settings).run_once(utcnow() + timedelta(days=1)).claimed == 0

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
    assert outbox_row(db, queued.outbox_id).status == "sent"
    assert remaining(db, queued.account_id, ALIPAY_TEMPLATE) == 0


def test_alipay_20000_is_retried_then_sent(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "alipay", app_id, accepts=1)
    inbox.fault("alipay", ALIPAY_SEND, errcode="20000")
    now = utcnow()

    assert PushWorker(db, channels, settings).run_once(now).retried == 1
    row = outbox_row(db, queued.outbox_id)
    assert row.status == "pending"
    # Alipay asks for 2 s at least (channels/alipay/errors.py); our base is 2 s too.
    assert (row.next_attempt_at - now).total_seconds() >= 2.0
    assert remaining(db, queued.account_id, ALIPAY_TEMPLATE) == 1

    inbox.clear_fault("alipay", ALIPAY_SEND)
    assert PushWorker(db, channels, settings).run_once(row.next_attempt_at).sent == 1
    assert len(inbox.to(queued.subject)) == 1


def test_alipay_refusal_is_recorded_and_never_retried(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "alipay", app_id, accepts=2)
    inbox.fault("alipay", ALIPAY_SEND, errcode="USER_TEMPLATE_ILLEGAL")

    assert PushWorker(db, channels, settings).run_once(utcnow()).refused == 1
    inbox.clear_fault("alipay", ALIPAY_SEND)
    assert PushWorker(db, channels, settings).run_once(utcnow() + timedelta(days=1)).claimed == 0

    assert outbox_row(db, queued.outbox_id).status == "refused"
    assert remaining(db, queued.account_id, ALIPAY_TEMPLATE) == 0
    assert inbox.to(queued.subject) == []


def test_one_batch_serves_both_platforms(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    platform_keys: PlatformKeys,
) -> None:
    on_wechat = queue_message(db, "wechat", platform_keys.wechat_app_id)
    on_alipay = queue_message(db, "alipay", platform_keys.alipay_app_id)

    assert PushWorker(db, channels, settings).run_once(utcnow()).sent == 2

    assert inbox.to(on_wechat.subject)[0]["template_id"] == WECHAT_TEMPLATE
    assert inbox.to(on_alipay.subject)[0]["template_id"] == ALIPAY_TEMPLATE


def test_a_platform_without_a_template_fails_its_rows_and_spends_nothing(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    wechat_only = NotifySettings(wechat_template_id=WECHAT_TEMPLATE)
    queued = queue_message(db, "alipay", app_id, accepts=1)

    assert PushWorker(db, channels, wechat_only).run_once(utcnow()).failed == 1

    row = outbox_row(db, queued.outbox_id)
    assert (row.status, row.attempts) == ("failed", 0)
    assert "not configured" in (row.last_error or "")
    assert remaining(db, queued.account_id, ALIPAY_TEMPLATE) == 1
    assert inbox.to(queued.subject) == []
