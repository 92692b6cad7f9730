"""One-time subscriptions: what a resident accepted, and spending one acceptance per message.

WeChat one-time subscribe messages allow one message per "accept", and accepts accumulate: a
resident who accepted three times may be sent three messages. ``subscriptions.remaining`` counts
them per (account, template). Every change is one conditional SQL statement, so concurrent
requests and workers never lose or double-spend an acceptance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import case, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from channels.base import Platform
from miniapp_api.dialects import insert_for
from miniapp_api.notify.models import Subscription
from miniapp_api.notify.schemas import (
    MessageKind,
    SubscriptionOut,
    SubscriptionsHeld,
    SubscriptionsOut,
)
from miniapp_api.residents.accounts import load_account
from miniapp_api.settings import NotifySettings

# Accepts kept per template. WeChat sets no documented ceiling; this bounds what a client that
# reports "accept" in a loop can bank (each extra message would only be answered 43101).
MAX_REMAINING = 10
NONE: Mapping[Platform, str] = MappingProxyType({})


def template_ids(settings: NotifySettings) -> dict[Platform, str]:
    """The result template of each platform that has one configured."""
    configured = {
        Platform.WECHAT: settings.wechat_template_id,
        Platform.ALIPAY: settings.alipay_template_id,
    }
    return {platform: tid for platform, tid in configured.items() if tid}


def notice_template_ids(settings: NotifySettings) -> dict[Platform, str]:
    """The notice template (family links, notify/notices.py) of each platform that has one."""
    configured = {
        Platform.WECHAT: settings.wechat_notice_template_id,
        Platform.ALIPAY: settings.alipay_notice_template_id,
    }
    return {platform: tid for platform, tid in configured.items() if tid}


def record_acceptances(
    session: Session,
    account_id: str,
    *,
    accepted: Sequence[str],
    templates: Mapping[Platform, str],
    now: datetime,
    notice_templates: Mapping[Platform, str] = NONE,
    named: Sequence[str] = (),
) -> SubscriptionsOut:
    """Add one acceptance (up to :data:`MAX_REMAINING`) per accepted template we send.

    ``templates`` are the result templates, ``notice_templates`` the notice ones; each is
    counted on its own. Templates the report names (``accepted`` and ``named``: those it
    rejected too) that this service does not send on the account's platform are reported as
    ignored. A template listed twice in one report counts once: one prompt accepts a template
    once.
    """
    with session.begin():
        account = load_account(session, account_id)
        ours = _offered(account.platform, templates, notice_templates)
        counted = sorted(set(ours).intersection(accepted))
        ignored = sorted({*accepted, *named} - set(ours))
        for template_id in counted:
            _add_one(session, account.id, template_id, now)
        held = _held(session, account.id, ours)
    return SubscriptionsOut(subscriptions=held, counted=counted, ignored=ignored)


def held_subscriptions(
    session: Session,
    account_id: str,
    *,
    templates: Mapping[Platform, str],
    notice_templates: Mapping[Platform, str] = NONE,
) -> SubscriptionsHeld:
    """The one-time accepts the account has left, per template we send on its platform."""
    with session.begin():
        account = load_account(session, account_id)
        ours = _offered(account.platform, templates, notice_templates)
        return SubscriptionsHeld(subscriptions=_held(session, account.id, ours))


def _offered(
    platform: str, templates: Mapping[Platform, str], notice_templates: Mapping[Platform, str]
) -> dict[str, MessageKind]:
    """The templates we send on ``platform``, result template first, with what each carries.

    Should one id be configured as both, it counts once and is shown as the result template.
    """
    offered: dict[str, MessageKind] = {}
    for kind, configured in (
        (MessageKind.RESULT, templates),
        (MessageKind.NOTICE, notice_templates),
    ):
        for p, tid in configured.items():
            if p.value == platform:
                offered.setdefault(tid, kind)
    return offered


def _held(
    session: Session, account_id: int, ours: Mapping[str, MessageKind]
) -> list[SubscriptionOut]:
    """Each of ``ours`` with its remaining accepts (0 without a row)."""
    rows = session.execute(
        select(Subscription.template_id, Subscription.remaining).where(
            Subscription.account_id == account_id,
            Subscription.template_id.in_(list(ours)),
        )
    )
    remaining = {template_id: count for template_id, count in rows}
    return [
        SubscriptionOut(template_id=tid, kind=kind, remaining=remaining.get(tid, 0))
        for tid, kind in ours.items()
    ]


def _add_one(session: Session, account_id: int, template_id: str, now: datetime) -> None:
    """Insert the row with 1, or add 1 capped at MAX_REMAINING, in one atomic upsert."""
    values = {"account_id": account_id, "template_id": template_id, "remaining": 1}
    bumped = {
        "remaining": case(
            (Subscription.remaining < MAX_REMAINING, Subscription.remaining + 1),
            else_=MAX_REMAINING,
        ),
        "updated_at": now,
    }
    keys = [Subscription.account_id, Subscription.template_id]
    upsert = insert_for(session, Subscription).values(**values, updated_at=now)
    session.execute(upsert.on_conflict_do_update(index_elements=keys, set_=bumped))


# --- used by the worker, inside its own short transactions -----------------------------------


def spend_one(session: Session, account_id: int, *, template_id: str, now: datetime) -> bool:
    """Take one acceptance; False when none is left (nothing changes then)."""
    result = session.execute(
        update(Subscription)
        .where(
            Subscription.account_id == account_id,
            Subscription.template_id == template_id,
            Subscription.remaining > 0,
        )
        .values(remaining=Subscription.remaining - 1, updated_at=now)
    )
    return _rowcount(result) == 1


def give_back(session: Session, account_id: int, *, template_id: str, now: datetime) -> None:
    """Return an acceptance that was taken for a message the platform certainly did not send."""
    session.execute(
        update(Subscription)
        .where(Subscription.account_id == account_id, Subscription.template_id == template_id)
        .values(remaining=Subscription.remaining + 1, updated_at=now)
    )


def forget(session: Session, account_id: int, *, template_id: str, now: datetime) -> None:
    """The platform says no acceptance is left (WeChat 43101): believe it."""
    session.execute(
        update(Subscription)
        .where(Subscription.account_id == account_id, Subscription.template_id == template_id)
        .values(remaining=0, updated_at=now)
    )


def _rowcount(result: object) -> int:
    # Session.execute is typed as returning Result; DML statements return a CursorResult.
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
