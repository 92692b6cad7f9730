"""A worker killed between any two steps loses at most the message in flight, and never
sends one twice. "Killed" = the steps of ``PushWorker.run_once`` called by hand, then abandoned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.messages import build_message
from miniapp_api.notify.worker import LostClaim, PushWorker, begin_delivery, claim_batch, settle
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox
from tests.integration.notify.factories import (
    WECHAT_TEMPLATE,
    outbox_row,
    queue_message,
    remaining,
)

LEASE = timedelta(seconds=30)


@pytest.fixture
def app_id(platform_keys: PlatformKeys) -> str:
    return platform_keys.wechat_app_id


def test_killed_after_claiming_the_row_is_sent_once_after_the_lease(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "wechat", app_id, accepts=1)
    now = utcnow()
    claims, _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    assert [c.outbox_id for c in claims] == [queued.outbox_id]
    # ... and the worker dies here.

    assert PushWorker(db, channels, settings, lease=LEASE).run_once(now + LEASE / 2).claimed == 0
    assert inbox.to(queued.subject) == []
    stats = PushWorker(db, channels, settings, lease=LEASE).run_once(
        now + LEASE + timedelta(seconds=1)
    )

    assert stats.sent == 1
    assert len(inbox.to(queued.subject)) == 1
    assert outbox_row(db, queued.outbox_id).attempts == 1
    assert remaining(db, queued.account_id, WECHAT_TEMPLATE) == 0


def test_killed_before_the_call_the_row_is_reaped_not_resent(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "wechat", app_id, accepts=2)
    now = utcnow()
    [claim], _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    assert begin_delivery(db, claim, template_id=WECHAT_TEMPLATE, now=now, lease=LEASE) is not None
    # ... dies before calling WeChat: "sending" is committed, the acceptance spent.

    assert PushWorker(db, channels, settings, lease=LEASE).run_once(now + LEASE / 2).claimed == 0
    stats = PushWorker(db, channels, settings, lease=LEASE).run_once(
        now + LEASE + timedelta(seconds=1)
    )

    assert (stats.reaped, stats.claimed) == (1, 0)
    row = outbox_row(db, queued.outbox_id)
    assert row.status == "failed"
    assert "interrupted" in (row.last_error or "")
    # The documented cost of at-most-once: this message, and the acceptance it spent.
    assert inbox.to(queued.subject) == []
    assert remaining(db, queued.account_id, WECHAT_TEMPLATE) == 1


def test_killed_after_the_platform_accepted_the_message_is_not_sent_again(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "wechat", app_id, accepts=2)
    now = utcnow()
    [claim], _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    attempt = begin_delivery(db, claim, template_id=WECHAT_TEMPLATE, now=now, lease=LEASE)
    assert attempt is not None
    message = build_message(Platform.WECHAT, WECHAT_TEMPLATE, claim.payload, claim.created_at)
    channels[Platform.WECHAT].send_message(
        claim.recipient, message.template_id, message.data, message.page
    )
    # ... WeChat confirmed; the worker dies before recording it.

    for later in (LEASE + timedelta(seconds=1), timedelta(days=1)):
        PushWorker(db, channels, settings, lease=LEASE).run_once(now + later)

    assert len(inbox.to(queued.subject)) == 1
    assert outbox_row(db, queued.outbox_id).status == "failed"  # outcome unknown to us


def test_a_slow_worker_whose_lease_ran_out_does_not_send_the_row_again(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    app_id: str,
) -> None:
    queued = queue_message(db, "wechat", app_id, accepts=3)
    now = utcnow()
    [stale], _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    # The first worker stalls past its lease; another takes the row over and sends it.
    assert PushWorker(db, channels, settings, lease=LEASE).run_once(now + LEASE * 2).sent == 1

    with pytest.raises(LostClaim):
        begin_delivery(db, stale, template_id=WECHAT_TEMPLATE, now=now + LEASE * 2, lease=LEASE)

    assert len(inbox.to(queued.subject)) == 1
    assert remaining(db, queued.account_id, WECHAT_TEMPLATE) == 2  # its spend was rolled back


def test_an_outcome_arriving_after_the_row_was_reaped_changes_nothing(
    db: Database, settings: NotifySettings, app_id: str
) -> None:
    queued = queue_message(db, "wechat", app_id, accepts=1)
    now = utcnow()
    [claim], _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    attempt = begin_delivery(db, claim, template_id=WECHAT_TEMPLATE, now=now, lease=LEASE)
    assert attempt is not None
    claim_batch(db, now + LEASE * 2, lease=LEASE, batch_size=10)  # reaps it

    with pytest.raises(LostClaim):
        settle(db, attempt, receipt=None, error=None, settings=settings, now=now + LEASE * 2)

    assert outbox_row(db, queued.outbox_id).status == "failed"
