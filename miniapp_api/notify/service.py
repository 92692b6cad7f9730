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
from miniapp_api.notify.schemas import SubscriptionOut, SubscriptionsOut
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
) -> SubscriptionsOut:
    """Add one acceptance (up to :data:`MAX_REMAINING`) per accepted template we send.

    ``templates`` are the result templates, ``notice_templates`` the notice ones; each is
    counted on its own. Templates this service does not send on the account's platform are
    reported as ignored. A template listed twice in one report counts once: one prompt accepts
    a template once.
    """
    with session.begin():
        account = load_account(session, account_id)
        ours = {
            tid
            for configured in (templates, notice_templates)
            for p, tid in configured.items()
            if p.value == account.platform
        }
        counted = sorted(ours.intersection(accepted))
        ignored = sorted(set(accepted) - ours)
        for template_id in counted:
            _add_one(session, account.id, template_id, now)
        rows = session.scalars(
            select(Subscription)
            .where(Subscription.account_id == account.id)
            .order_by(Subscription.template_id)
        )
        held = [SubscriptionOut(template_id=s.template_id, remaining=s.remaining) for s in rows]
    return SubscriptionsOut(subscriptions=held, ignored=ignored)


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
