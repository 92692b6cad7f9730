"""Pushing notices (``residents.models.Notice``): one subscribe message each, at most once.

The push worker runs :func:`send_notices` after each batch of results. A notice's
``push_status`` moves like this::

               claim: spend 1 acceptance, commit              call
    pending ───────────────────────────────────▶ sending ─────────────┬──▶ sent
     ▲  │                                                             ├──▶ refused (43101)
     │  ├── no acceptance of the notice template ──▶ no_subscription  ├──▶ failed
     │  └── no notice template or channel here ───▶ skipped           │
     └───── acceptance back, retry after a backoff ◀──────────────────┘

``refused``: the platform says no acceptance is left (its count is set to 0). ``failed``: the
retries are spent, or delivery is unknown (the acceptance stays spent). A retry follows only a
call the platform certainly did not deliver (:func:`miniapp_api.notify.retry.decide`).

Notices are rare and carry no deadline, so the scheme is simpler than the outbox's (the table
has no lease column). *Claim* is one short transaction per notice: it picks the oldest pending
notice under ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite lets one writer in at a time),
spends the acceptance and moves the notice to ``sending`` by a conditional ``UPDATE`` (still
``pending``), and commits **before** the platform is called; two workers never both win it.
The call runs outside any transaction; *settle* records it with the policy of
:mod:`miniapp_api.notify.retry`.

- A worker that dies after the claim leaves the notice ``sending``: delivery unknown, it is
  never sent again (at most one lost message per worker death; the notice is still shown in
  ``GET /me``).
- A retry puts the notice back to ``pending`` with its calls counted (``push_attempts``) and
  not before its backoff (``push_after``), in the row: any worker takes it up when it is due.
- Notices written while the platform has no notice template configured are marked
  ``skipped`` and never pushed later (they would be stale by then).

Log lines name the notice id, status and platform error code only.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from channels.base import LoginChannel, MessageReceipt, Platform
from miniapp_api.db import Database
from miniapp_api.notify import service
from miniapp_api.notify.notice_messages import build_notice_message
from miniapp_api.notify.retry import Status, decide
from miniapp_api.residents.models import Account, Notice
from miniapp_api.settings import NotifySettings

log = logging.getLogger(__name__)

SKIPPED = "skipped"  # no notice template (or channel) for the account's platform here
RETRIED = "retried"  # the count of notices put back for another attempt

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ClaimedNotice:
    """A notice in ``sending``: its acceptance is spent and the platform may now be called."""

    notice_id: int
    account_id: int
    platform: Platform
    template_id: str
    recipient: str = field(repr=False)  # the openid / user_id: never logged
    kind: str
    name_masked: str = field(repr=False)
    created_at: datetime
    calls: int  # platform calls for this notice, this one included


def send_notices(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    *,
    clock: Clock,
    stop: threading.Event | None = None,
) -> Counter[str]:
    """Send up to ``settings.batch_size`` due pending notices, oldest first: their new
    statuses, counted (a notice put back for a retry counts as ``retried``)."""
    counts: Counter[str] = Counter()
    templates = service.notice_template_ids(settings)
    skip: list[int] = []
    for _ in range(settings.batch_size):
        if stop is not None and stop.is_set():
            break
        outcome = claim_next(db, channels, templates, skip=skip, now=clock())
        if outcome is None:
            break
        if isinstance(outcome, str):
            counts[outcome] += 1
            continue
        receipt, error = call(channels[outcome.platform], outcome)
        status = settle(db, outcome, receipt=receipt, error=error, settings=settings, now=clock())
        if status is Status.PENDING:
            skip.append(outcome.notice_id)  # due again only after its backoff
        counts[RETRIED if status is Status.PENDING else status.value] += 1
    return counts


def claim_next(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    templates: Mapping[Platform, str],
    *,
    skip: list[int],
    now: datetime,
) -> ClaimedNotice | str | None:
    """Take the oldest pending notice not in ``skip``: claimed (``sending``, one acceptance
    spent), or the status it was given instead (``no_subscription``, ``skipped``). None when
    no notice is pending."""
    while True:
        query = (
            select(Notice.id, Notice.account_id, Notice.kind, Notice.name_masked)
            .add_columns(Notice.created_at, Notice.push_attempts, Account.platform, Account.subject)
            .join(Account, Account.id == Notice.account_id)
            .where(
                Notice.push_status == Status.PENDING.value,
                or_(Notice.push_after.is_(None), Notice.push_after <= now),
            )
            .order_by(Notice.id)
            .limit(1)
            .with_for_update(of=Notice, skip_locked=True)
        )
        if skip:
            query = query.where(Notice.id.not_in(skip))
        try:
            with db.session() as session, session.begin():
                row = session.execute(query).first()
                if row is None:
                    return None
                (
                    notice_id,
                    account_id,
                    kind,
                    name_masked,
                    created_at,
                    calls_before,
                    platform_name,
                    subject,
                ) = row
                platform = next((p for p in Platform if p.value == platform_name), None)
                template_id = templates.get(platform) if platform else None
                if platform is None or template_id is None or platform not in channels:
                    return _mark(session, notice_id, SKIPPED)
                if not service.spend_one(session, account_id, template_id=template_id, now=now):
                    return _mark(session, notice_id, Status.NO_SUBSCRIPTION.value)
                _mark(session, notice_id, Status.SENDING.value)
        except _Taken:  # by another worker meanwhile (SQLite has no row locks); nothing spent
            skip.append(notice_id)
            continue
        return ClaimedNotice(
            notice_id,
            account_id,
            platform,
            template_id,
            subject,
            kind,
            name_masked,
            created_at,
            calls=calls_before + 1,
        )


def call(
    channel: LoginChannel, notice: ClaimedNotice
) -> tuple[MessageReceipt | None, Exception | None]:
    """Send the claimed notice's message, outside any transaction: the receipt, or the error."""
    message = build_notice_message(
        notice.platform,
        notice.template_id,
        kind=notice.kind,
        name_masked=notice.name_masked,
        at=notice.created_at,
    )
    try:
        receipt = channel.send_message(
            notice.recipient, message.template_id, message.data, message.page
        )
    except Exception as exc:  # decided by notify/retry.py; an unexpected one is "unknown"
        return None, exc
    return receipt, None


def settle(
    db: Database,
    notice: ClaimedNotice,
    *,
    receipt: MessageReceipt | None,
    error: Exception | None,
    settings: NotifySettings,
    now: datetime,
) -> Status:
    """Record the call's outcome (a retry: back to ``pending``, due after its backoff); the
    notice's new status."""
    calls = notice.calls
    decision = decide(error, calls, settings)
    retry_at = now + decision.retry_in if decision.retry_in is not None else None
    account_id, template_id = notice.account_id, notice.template_id
    with db.session() as session, session.begin():
        if decision.acceptance == "given_back":
            service.give_back(session, account_id, template_id=template_id, now=now)
        elif decision.acceptance == "forgotten":
            service.forget(session, account_id, template_id=template_id, now=now)
        session.execute(
            update(Notice)
            .where(Notice.id == notice.notice_id, Notice.push_status == Status.SENDING.value)
            .values(push_status=decision.status.value, push_attempts=calls, push_after=retry_at)
        )
    code = getattr(error, "platform_code", None)
    level = logging.WARNING if decision.status is Status.FAILED else logging.INFO
    extra: dict[str, Any] = {
        "notice_id": notice.notice_id,
        "status": decision.status.value,
        "attempts": calls,
        "platform_code": None if code is None else str(code),
    }
    log.log(level, "notice %s: %s", notice.notice_id, decision.status.value, extra=extra)
    return decision.status


class _Taken(Exception):
    """The notice is no longer pending: leaving the transaction rolls back what it spent."""


def _mark(session: Session, notice_id: int, status: str) -> str:
    """Move a pending notice to ``status``; :class:`_Taken` if it is no longer pending."""
    moved = session.scalar(
        update(Notice)
        .where(Notice.id == notice_id, Notice.push_status == Status.PENDING.value)
        .values(push_status=status)
        .returning(Notice.id)
    )
    if moved is None:
        raise _Taken
    if status != Status.SENDING.value:
        log.info("notice %s: %s", notice_id, status, extra={"notice_id": notice_id})
    return status
