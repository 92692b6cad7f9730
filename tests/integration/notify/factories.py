"""Rows the push worker reads: an account, a person result (and what it hangs on), outbox rows.

Built with the models directly, so these tests do not depend on sampling or lab ingest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.models import Subscription
from miniapp_api.residents.models import Account, Resident
from miniapp_api.results.models import OutboxMessage, PersonResult
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Staff, Tube

WECHAT_TEMPLATE = "tpl-wx-result-0001"
ALIPAY_TEMPLATE = "tpl-ali-result-0001"


def new_subject(platform: str) -> str:
    """A fresh openid (WeChat) or user_id (Alipay) of the real shape."""
    if platform == "wechat":
        return "o" + secrets.token_urlsafe(20)[:27]
    return "2088" + str(secrets.randbelow(10**12)).zfill(12)


@dataclass(frozen=True)
class Queued:
    """An outbox row and who it is for."""

    outbox_id: int
    account_id: int
    platform: str
    subject: str
    tube_no: str


def make_account(
    session: Session, platform: str, app_id: str, subject: str | None = None
) -> Account:
    account = Account(platform=platform, app_id=app_id, subject=subject or new_subject(platform))
    session.add(account)
    session.flush()
    return account


ROUND_NAME = "2022-03-16 浦东"
SITE_NAME = "浦东 1 号点"
TESTED_AT = datetime(2022, 3, 16, 7, 1, tzinfo=UTC)  # 15:01 in Beijing


def make_person_result(session: Session, state: str = "negative") -> PersonResult:
    """A resident sampled into a fresh single tube (``T<8 hex>``) of the round ``ROUND_NAME``
    at ``SITE_NAME``, with a result tested at ``TESTED_AT``."""
    tag = secrets.token_hex(4)
    round_ = session.scalars(
        select(ScreeningRound).where(ScreeningRound.name == ROUND_NAME)
    ).first()
    site = session.scalars(select(Site).where(Site.name == SITE_NAME)).first()
    if round_ is None or site is None:
        # Closed: only one round may be open, and these rows only need a round to belong to.
        round_ = ScreeningRound(name=ROUND_NAME, closed_at=utcnow())
        site = Site(name=SITE_NAME)
        session.add_all([round_, site])
        session.flush()
    staff = Staff(username=f"staff-{tag}", password_hash="-", site_id=site.id)
    tube = Tube(tube_no=f"T{tag}", round_id=round_.id, site_id=site.id, capacity=1, bound_count=1)
    resident = Resident(
        id_type="cn_id",
        id_index=secrets.token_hex(16),
        id_enc=b"-",
        id_masked="310***********1234",
        name_enc=b"-",
        name_masked="张*",
    )
    session.add_all([staff, tube, resident])
    session.flush()
    sampling = Sampling(
        round_id=round_.id,
        resident_id=resident.id,
        tube_id=tube.id,
        site_id=site.id,
        staff_id=staff.id,
        code_id=secrets.token_hex(8),
        scanned_at=utcnow(),
    )
    session.add(sampling)
    session.flush()
    result = PersonResult(
        sampling_id=sampling.id,
        resident_id=resident.id,
        tube_id=tube.id,
        state=state,
        tested_at=TESTED_AT,
    )
    session.add(result)
    session.flush()
    return result


def queue_message(
    db: Database,
    platform: str,
    app_id: str,
    *,
    accepts: int = 1,
    template_id: str | None = None,
    subject: str | None = None,
    account_id: int | None = None,
    status: str = "pending",
    next_attempt_at: datetime | None = None,
) -> Queued:
    """One outbox row for a (new or given) account holding ``accepts`` acceptances."""
    template = template_id or (WECHAT_TEMPLATE if platform == "wechat" else ALIPAY_TEMPLATE)
    with db.session() as session, session.begin():
        if account_id is None:
            account = make_account(session, platform, app_id, subject)
            if accepts:
                session.add(
                    Subscription(account_id=account.id, template_id=template, remaining=accepts)
                )
        else:
            account = session.get_one(Account, account_id)
        result = make_person_result(session)
        row = OutboxMessage(
            person_result_id=result.id,
            account_id=account.id,
            version=0,
            status=status,
            attempts=0,
            next_attempt_at=next_attempt_at or utcnow() - timedelta(seconds=1),
        )
        session.add(row)
        session.flush()
        tube_no = session.scalars(select(Tube.tube_no).where(Tube.id == result.tube_id)).one()
        return Queued(row.id, account.id, account.platform, account.subject, tube_no)


def outbox_row(db: Database, outbox_id: int) -> OutboxMessage:
    with db.session() as session:
        return session.get_one(OutboxMessage, outbox_id)


def remaining(db: Database, account_id: int, template_id: str) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Subscription.remaining).where(
                Subscription.account_id == account_id, Subscription.template_id == template_id
            )
        )
