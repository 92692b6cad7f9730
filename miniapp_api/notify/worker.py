"""The push worker: sends outbox rows through the platforms, each at most once.

A row moves through ``status`` like this::

                 claim: lease (claimed_until)      begin: spend 1 acceptance, commit
    pending ───────────────────▶ pending, leased ───────────────────▶ sending ──call──┐
      ▲  ▲                        │          │                                        │
      │  └──── lease runs out ────┘          └─ no acceptance left ─▶ no_subscription │
      │                                                                               │
      │  platform said no (45011, -1, 20000, connection refused): acceptance back,    │
      └───────────────────────── backoff, attempts < max_attempts ◀───────────────────┤
           sent                ◀── platform accepted ─────────────────────────────────┤
           refused             ◀── 43101 / USER_TEMPLATE_ILLEGAL: count set to 0 ─────┤
           failed              ◀── last attempt; permanent error; delivery unknown ───┤
           failed (reaped)     ◀── still sending past its deadline: the worker died ──┘

A claimed row stays ``pending``: ``sending`` means "the acceptance is spent and the platform may
have been called", which is what lets a dead worker's claims be taken over safely. *Claim*
leases due rows under ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and commits. *Begin* is one short
transaction that spends the acceptance and moves the row to ``sending`` only if the row still
carries our lease (after it ran out, another worker may have claimed the row), and commits
**before** the platform is called. The call runs outside any transaction; *settle* records it.

Delivery is **at most once** (WeChat one-time subscriptions allow one message per accept, and a
result must never be announced twice). The crash windows:

- after claim, before begin: the row is still ``pending``; it is claimed again once the lease
  has run out and sent then. Nothing was spent.
- after begin, before or during the call, or after the call and before settle: the row stays
  ``sending`` and may or may not have been delivered. It is never sent again: once its deadline
  (``claimed_until``) has passed, the next claim marks it ``failed`` ("interrupted"). The cost is
  at most one lost message (and its acceptance) per row in flight when the worker died.
- a platform call that fails: when the platform certainly did not deliver (it answered with an
  error code such as 45011 / -1 / Alipay 20000, or the connection was never established), the
  acceptance is given back and the row is retried with exponential backoff, up to
  ``max_attempts``. When delivery is possible (a read timeout, a reset connection, an HTTP 5xx,
  an answer that fails verification), the row is marked ``failed`` with "delivery unknown",
  not retried, and the acceptance stays spent.

Log lines name the outbox id, status and platform error code only: never an openid, user_id,
phone or token.

After each batch of results the worker also pushes pending notices about family links
(:mod:`miniapp_api.notify.notices`, with their own, simpler scheme).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from channels.base import (
    LoginChannel,
    MessageReceipt,
    Platform,
)
from miniapp_api.db import Database, utcnow
from miniapp_api.notify import service
from miniapp_api.notify.messages import build_message
from miniapp_api.notify.notices import RETRIED, SKIPPED, send_notices
from miniapp_api.notify.payloads import payloads
from miniapp_api.notify.retry import Status, decide
from miniapp_api.residents.consents import withdrawn_accounts
from miniapp_api.results.models import OutboxMessage
from miniapp_api.settings import NotifySettings

log = logging.getLogger(__name__)

# How long a claim, and then a platform call, may take before the row is given up on. Far
# above one call's timeouts (a token refresh and a retry included); it only matters after a crash.
DEFAULT_LEASE = timedelta(minutes=5)
IDLE_SECONDS = 1.0
INTERRUPTED = "interrupted during delivery (worker stopped); delivery unknown, not resent"

Clock = Callable[[], datetime]


@dataclass
class Stats:
    """What one :func:`run_once` did."""

    claimed: int = 0
    sent: int = 0
    refused: int = 0
    no_subscription: int = 0
    retried: int = 0
    failed: int = 0
    reaped: int = 0  # rows a dead worker left in ``sending``, now failed
    lost: int = 0  # claims another worker took over (our lease had run out)
    # Notices (notify/notices.py), by the status their push got.
    notices_sent: int = 0
    notices_refused: int = 0
    notices_no_subscription: int = 0
    notices_skipped: int = 0  # no notice template for the platform
    notices_retried: int = 0
    notices_failed: int = 0

    def count(self, status: Status | None) -> None:
        name = _STAT_OF[status]
        setattr(self, name, getattr(self, name) + 1)

    def count_notices(self, counts: Mapping[str, int]) -> None:
        for status, number in counts.items():
            name = _NOTICE_STAT_OF[status]
            setattr(self, name, getattr(self, name) + number)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Claim:
    """A leased row and what sending it needs. ``lease`` is our proof of ownership."""

    outbox_id: int
    lease: datetime
    account_id: int
    platform: str
    recipient: str = field(repr=False)  # the openid / user_id: never logged
    payload: Mapping[str, Any] = field(repr=False)  # built at claim time (notify/payloads.py)
    created_at: datetime
    withheld: bool = False  # the account withdrew a required consent (residents/consents.py)


@dataclass(frozen=True)
class Attempt:
    """A row in ``sending``: its acceptance is spent and the platform may now be called."""

    claim: Claim
    number: int  # the row's ``attempts``, this one included
    template_id: str


class LostClaim(Exception):
    """The row is no longer ours: another worker claimed it, or it was reaped."""


@dataclass(frozen=True)
class PushWorker:
    """Sends due outbox rows through the channels; several may run side by side."""

    db: Database
    channels: Mapping[Platform, LoginChannel]
    settings: NotifySettings
    lease: timedelta = DEFAULT_LEASE
    # Notices this worker will retry, and when; each worker (and each copy) has its own.

    def run_once(self, now: datetime, *, stop: threading.Event | None = None) -> Stats:
        """Claim one batch of due rows and send each; ``now`` is the batch's time."""
        began = time.monotonic()

        def clock() -> datetime:  # ``now`` plus the time the batch has taken so far
            return now + timedelta(seconds=time.monotonic() - began)

        stats = Stats()
        claims, stats.reaped = claim_batch(
            self.db, now, lease=self.lease, batch_size=self.settings.batch_size
        )
        stats.claimed = len(claims)
        templates = service.template_ids(self.settings)
        for index, claim in enumerate(claims):
            if stop is not None and stop.is_set():
                release(self.db, claims[index:])
                break
            stats.count(self.process(claim, templates=templates, clock=clock))
        stats.count_notices(
            send_notices(
                self.db,
                self.channels,
                self.settings,
                clock=clock,
                stop=stop,
            )
        )
        return stats

    def run_forever(
        self,
        stop: threading.Event,
        *,
        clock: Clock = utcnow,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        """Run batches until ``stop`` is set; pause briefly whenever a batch was not full."""
        batch_size = self.settings.batch_size
        log.info("outbox worker started", extra={"batch_size": batch_size})
        while not stop.is_set():
            try:
                stats: Stats | None = self.run_once(clock(), stop=stop)
            except Exception as exc:  # the database is down, or a bug: keep going, slowly
                # Only the type: a driver's message can quote statement parameters.
                log.error("outbox worker: batch failed (%s); retrying", type(exc).__name__)
                stats = None
            if stats is None or stats.claimed < batch_size:
                stop.wait(idle_seconds * (1 + random.random() / 2))
        log.info("outbox worker stopped")

    def process(
        self, claim: Claim, *, templates: Mapping[Platform, str], clock: Clock
    ) -> Status | None:
        """Send one claimed row: begin, call, settle. Its new status; None if the claim was
        lost."""
        db, lease = self.db, self.lease
        platform = next((p for p in Platform if p.value == claim.platform), None)
        channel = self.channels.get(platform) if platform else None
        template_id = templates.get(platform) if platform else None
        try:
            if "state" not in claim.payload or not claim.recipient:  # deleted since queued
                return _fail_unsent(db, claim, "the result or the account is gone")
            if claim.withheld:  # nothing is spent; results arriving after re-consent are sent
                return _fail_unsent(db, claim, "consent withdrawn: not pushed")
            if platform is None or channel is None or template_id is None:
                return _fail_unsent(db, claim, f"push to {claim.platform} is not configured here")
            message = build_message(
                platform, template_id, payload=claim.payload, fallback_time=claim.created_at
            )
            attempt = begin_delivery(db, claim, template_id=template_id, now=clock(), lease=lease)
            if attempt is None:
                _log(claim.outbox_id, Status.NO_SUBSCRIPTION)
                return Status.NO_SUBSCRIPTION
            receipt: MessageReceipt | None = None
            error: Exception | None = None
            try:  # outside any transaction
                receipt = channel.send_message(
                    claim.recipient, message.template_id, message.data, message.page
                )
            except Exception as exc:  # an unexpected one (an adapter bug): "delivery unknown"
                error = exc
            return settle(
                db, attempt, receipt=receipt, error=error, settings=self.settings, now=clock()
            )
        except LostClaim:
            _log(claim.outbox_id, None, "no longer ours: leased again or reaped")
            return None


# --- the steps, public so that tests can stop a "worker" between any two ----------------------


def claim_batch(
    db: Database, now: datetime, *, lease: timedelta, batch_size: int
) -> tuple[list[Claim], int]:
    """Lease up to ``batch_size`` due rows, oldest first, after reaping dead deliveries.

    Returns the claims and the number of rows reaped.
    """
    until = now + lease
    due = (
        OutboxMessage.status == Status.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )
    with db.session() as session, session.begin():
        reaped = _reap(session, now)
        # SKIP LOCKED: parallel workers take disjoint batches instead of queueing on the same
        # rows. SQLite has no row locks (its dialect drops the clause) and serializes writers;
        # the UPDATE repeats the conditions, so a row another worker leased first is skipped.
        candidates = session.scalars(
            select(OutboxMessage.id)
            .where(*due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            return [], reaped
        leased = session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), *due)
            .values(claimed_until=until)
            .returning(OutboxMessage.id)
        ).all()
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.account_id, OutboxMessage.created_at)
            .where(OutboxMessage.id.in_(leased))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        ).all()
        # Built now, from the rows the outbox row names (it holds ids only).
        built = payloads(session, [row.id for row in rows])
        withheld = withdrawn_accounts(session, {row.account_id for row in rows})
    claims = []
    for outbox_id, account_id, created_at in rows:
        payload = built.get(outbox_id, {})
        platform, recipient = payload.get("platform", ""), payload.get("recipient", "")
        claims.append(
            Claim(
                outbox_id,
                until,
                account_id,
                platform,
                recipient,
                payload,
                created_at,
                withheld=account_id in withheld,
            )
        )
    return claims, reaped


def begin_delivery(
    db: Database, claim: Claim, *, template_id: str, now: datetime, lease: timedelta
) -> Attempt | None:
    """Spend one acceptance and mark the row ``sending``, committed before any platform call.

    None when no acceptance is left (the row is then ``no_subscription``). Raises
    :class:`LostClaim`, changing nothing, when the row is no longer ours.
    """
    with db.session() as session, session.begin():
        if service.spend_one(session, claim.account_id, template_id=template_id, now=now):
            # claimed_until becomes the call's deadline: past it the row is reaped, not resent.
            number = _update(
                session,
                _ours(claim),
                status=Status.SENDING,
                claimed_until=now + lease,
                attempts=OutboxMessage.attempts + 1,
            )
            return Attempt(claim, number, template_id)
        _update(session, _ours(claim), status=Status.NO_SUBSCRIPTION, claimed_until=None)
        return None


def settle(
    db: Database,
    attempt: Attempt,
    *,
    receipt: MessageReceipt | None,
    error: BaseException | None,
    settings: NotifySettings,
    now: datetime,
) -> Status:
    """Record the outcome of ``attempt``'s call; :class:`LostClaim` if it was reaped meanwhile."""
    claim, decision = attempt.claim, decide(error, attempt.number, settings)
    values: dict[str, Any] = {
        "status": decision.status,
        "claimed_until": None,
        "last_error": decision.last_error,
    }
    if decision.status is Status.SENT:
        values |= {"sent_at": now, "platform_message_id": receipt.message_id if receipt else None}
    if decision.retry_in is not None:
        values["next_attempt_at"] = now + decision.retry_in
    owned = (
        OutboxMessage.id == claim.outbox_id,
        OutboxMessage.status == Status.SENDING,
        OutboxMessage.attempts == attempt.number,
    )
    with db.session() as session, session.begin():
        if decision.acceptance == "given_back":
            service.give_back(session, claim.account_id, template_id=attempt.template_id, now=now)
        elif decision.acceptance == "forgotten":
            service.forget(session, claim.account_id, template_id=attempt.template_id, now=now)
        _update(session, owned, **values)
    code = getattr(error, "platform_code", None)
    _log(claim.outbox_id, decision.status, attempts=attempt.number, platform_code=code)
    return decision.status


def release(db: Database, claims: list[Claim]) -> None:
    """Hand unstarted claims back now (a stopping worker) rather than when the lease runs out."""
    with db.session() as session, session.begin():
        for claim in claims:
            session.execute(update(OutboxMessage).where(*_ours(claim)).values(claimed_until=None))


# --- helpers -----------------------------------------------------------------------------------

_STAT_OF: Mapping[Status | None, str] = {
    Status.SENT: "sent",
    Status.REFUSED: "refused",
    Status.NO_SUBSCRIPTION: "no_subscription",
    Status.PENDING: "retried",
    Status.FAILED: "failed",
    None: "lost",
}
_NOTICE_STAT_OF: Mapping[str, str] = {
    Status.SENT: "notices_sent",
    Status.REFUSED: "notices_refused",
    Status.NO_SUBSCRIPTION: "notices_no_subscription",
    Status.FAILED: "notices_failed",
    SKIPPED: "notices_skipped",
    RETRIED: "notices_retried",
}


def _ours(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """The row is still our claim: pending, under the lease we set."""
    return (
        OutboxMessage.id == claim.outbox_id,
        OutboxMessage.status == Status.PENDING,
        OutboxMessage.claimed_until == claim.lease,
    )


def _update(session: Session, where: tuple[ColumnElement[bool], ...], **values: Any) -> int:
    """Update the one row matching ``where``; its ``attempts``, or :class:`LostClaim`."""
    attempts = session.scalar(
        update(OutboxMessage).where(*where).values(**values).returning(OutboxMessage.attempts)
    )
    if attempts is None:
        raise LostClaim  # leaving the block rolls back, a spent acceptance included
    return int(attempts)


def _reap(session: Session, now: datetime) -> int:
    """Fail rows left in ``sending`` past their deadline: their worker died mid-delivery."""
    reaped = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.status == Status.SENDING, OutboxMessage.claimed_until < now)
        .values(status=Status.FAILED, claimed_until=None, last_error=INTERRUPTED)
        .returning(OutboxMessage.id)
    ).all()
    for outbox_id in reaped:
        _log(outbox_id, Status.FAILED, "reaped: interrupted mid-delivery", level=logging.WARNING)
    return len(reaped)


def _fail_unsent(db: Database, claim: Claim, reason: str) -> Status:
    """Nothing to send it with (no channel or template for the row's platform), nothing to
    send (its result or account is gone) or nobody to send it to (consent withdrawn): fail
    it, nothing spent, so it stops coming back every batch."""
    with db.session() as session, session.begin():
        _update(session, _ours(claim), status=Status.FAILED, claimed_until=None, last_error=reason)
    _log(claim.outbox_id, Status.FAILED, reason, level=logging.WARNING)
    return Status.FAILED


def _log(
    outbox_id: int,
    status: Status | None,
    note: str = "",
    *,
    level: int = logging.INFO,
    attempts: int | None = None,
    platform_code: object = None,
) -> None:
    """One structured line per message event: ids, status and error code, nothing personal."""
    shown = status.value if status else "-"
    extra = {
        "outbox_id": outbox_id,
        "status": shown,
        "attempts": attempts,
        "platform_code": None if platform_code is None else str(platform_code),
    }
    log.log(level, "outbox %s: %s%s", outbox_id, shown, f" ({note})" if note else "", extra=extra)
