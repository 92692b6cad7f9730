"""A worker killed between any two steps loses at most the message in flight, and never
sends one twice. "Killed" = the steps of ``PushWorker.run_once`` called by hand, then abandoned."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.messages import build_message
from miniapp_api.notify.worker import (
    Attempt,
    Claim,
    LostClaim,
    PushWorker,
    begin_delivery,
    claim_batch,
    settle,
)
from miniapp_api.settings import NotifySettings
from tests.integration.notify.conftest import EmulatorInbox, Outbox
from tests.support.factories import WECHAT_TEMPLATE

LEASE = timedelta(seconds=30)


@pytest.fixture
def worker(worker: PushWorker) -> PushWorker:
    """Workers here hold their claims for ``LEASE``."""
    return dataclasses.replace(worker, lease=LEASE)


def claimed(db: Database, now: datetime) -> list[Claim]:
    """The first step of a batch at ``now``: claim due rows (and reap expired deliveries)."""
    claims, _ = claim_batch(db, now, lease=LEASE, batch_size=10)
    return claims


def begun(db: Database, claim: Claim, now: datetime) -> Attempt | None:
    """The second step: mark the row as being sent and spend its acceptance."""
    return begin_delivery(db, claim, template_id=WECHAT_TEMPLATE, now=now, lease=LEASE)


def test_killed_after_claiming_the_row_is_sent_once_after_the_lease(
    worker: PushWorker, outbox: Outbox, db: Database, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=1)
    now = utcnow()
    assert [c.outbox_id for c in claimed(db, now)] == [queued.outbox_id]
    # ... and the worker dies here.

    assert worker.run_once(now + LEASE / 2).claimed == 0
    assert inbox.to(queued.subject) == []
    stats = worker.run_once(now + LEASE + timedelta(seconds=1))

    assert stats.sent == 1
    assert len(inbox.to(queued.subject)) == 1
    assert outbox.row(queued).attempts == 1
    assert outbox.remaining(queued) == 0


def test_killed_before_the_call_the_row_is_reaped_not_resent(
    worker: PushWorker, outbox: Outbox, db: Database, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=2)
    now = utcnow()
    [claim] = claimed(db, now)
    assert begun(db, claim, now) is not None
    # ... dies before calling WeChat: "sending" is committed, the acceptance spent.

    assert worker.run_once(now + LEASE / 2).claimed == 0
    stats = worker.run_once(now + LEASE + timedelta(seconds=1))

    assert (stats.reaped, stats.claimed) == (1, 0)
    row = outbox.row(queued)
    assert row.status == "failed"
    assert "interrupted" in (row.last_error or "")
    # The documented cost of at-most-once: this message, and the acceptance it spent.
    assert inbox.to(queued.subject) == []
    assert outbox.remaining(queued) == 1


def test_killed_after_the_platform_accepted_the_message_is_not_sent_again(
    worker: PushWorker,
    outbox: Outbox,
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    inbox: EmulatorInbox,
) -> None:
    queued = outbox.queue(accepts=2)
    now = utcnow()
    [claim] = claimed(db, now)
    assert begun(db, claim, now) is not None
    message = build_message(
        Platform.WECHAT, WECHAT_TEMPLATE, payload=claim.payload, fallback_time=claim.created_at
    )
    channels[Platform.WECHAT].send_message(
        claim.recipient, message.template_id, message.data, message.page
    )
    # ... WeChat confirmed; the worker dies before recording it.

    for later in (LEASE + timedelta(seconds=1), timedelta(days=1)):
        worker.run_once(now + later)

    assert len(inbox.to(queued.subject)) == 1
    assert outbox.row(queued).status == "failed"  # outcome unknown to us


def test_a_slow_worker_whose_lease_ran_out_does_not_send_the_row_again(
    worker: PushWorker, outbox: Outbox, db: Database, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=3)
    now = utcnow()
    [stale] = claimed(db, now)
    # The first worker stalls past its lease; another takes the row over and sends it.
    assert worker.run_once(now + LEASE * 2).sent == 1

    with pytest.raises(LostClaim):
        begun(db, stale, now + LEASE * 2)

    assert len(inbox.to(queued.subject)) == 1
    assert outbox.remaining(queued) == 2  # its spend was rolled back


def test_an_outcome_arriving_after_the_row_was_reaped_changes_nothing(
    outbox: Outbox, db: Database, settings: NotifySettings
) -> None:
    queued = outbox.queue(accepts=1)
    now = utcnow()
    [claim] = claimed(db, now)
    attempt = begun(db, claim, now)
    assert attempt is not None
    claimed(db, now + LEASE * 2)  # reaps it

    with pytest.raises(LostClaim):
        settle(db, attempt, receipt=None, error=None, settings=settings, now=now + LEASE * 2)

    assert outbox.row(queued).status == "failed"
