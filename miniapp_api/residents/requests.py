"""Requests to hold an existing person's record, and their holders' answers.

A request is approvable when the name the requester typed matches the record, the person has
no login of their own, and somebody holds the record: those holders see it in ``GET /me`` and
approve or decline it. Every other request is recorded all the same and lapses unseen, so the
requester's answer is the same whatever the record is (README, "Family links").
"""

from __future__ import annotations

from datetime import datetime, timedelta

import redis
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from miniapp_api.db import as_utc
from miniapp_api.errors import Conflict, NotFound
from miniapp_api.residents import notices
from miniapp_api.residents.accounts import (
    count_links,
    holder_account_ids,
    links_of,
    load_account,
)
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.identity import age_on
from miniapp_api.residents.models import (
    Account,
    AccountResident,
    Consent,
    LinkRequest,
    LinkStatus,
    NoticeKind,
    ProxyReason,
    Relation,
    Resident,
)
from miniapp_api.residents.schemas import LinkRequestOut, SentRequestOut
from miniapp_api.settings import ResidentSettings

GUARDIAN_CONSENT_VERSION = "2022-04"
SENT_SHOWN = 20


def record(
    session: Session,
    requester: Account,
    resident: Resident,
    *,
    name_masked: str,
    reason: ProxyReason,
    approvable: bool,
    rules: ResidentSettings,
    now: datetime,
) -> LinkRequest:
    """Record a request (in the caller's transaction); tell the holders if they may approve.

    A pending request of the same requester for the same record is answered again as it is.
    """
    pending = session.scalars(
        select(LinkRequest).where(
            LinkRequest.requester_id == requester.id,
            LinkRequest.resident_id == resident.id,
            LinkRequest.status == LinkStatus.PENDING.value,
            LinkRequest.expires_at > now,
        )
    ).first()
    if pending is not None:
        return pending
    request = LinkRequest(
        requester=requester,
        resident=resident,
        name_masked=name_masked,
        proxy_reason=reason.value,
        approvable=approvable,
        created_at=now,
        expires_at=now + timedelta(days=rules.link_request_days),
    )
    session.add(request)
    if approvable:
        notices.tell(
            session,
            holder_account_ids(session, resident),
            NoticeKind.LINK_REQUESTED,
            resident.name_masked,
        )
    return request


def waiting_for(session: Session, account: Account, *, now: datetime) -> list[LinkRequestOut]:
    """Pending, approvable requests of others for records this account holds, while the
    person held has no login of their own."""
    mine = aliased(AccountResident)
    their_self = aliased(AccountResident)
    their_person = aliased(Resident)
    rows = session.execute(
        select(LinkRequest, Resident.name_masked, Account, their_person.name_masked)
        .join(mine, (mine.resident_id == LinkRequest.resident_id) & (mine.account_id == account.id))
        .join(Resident, Resident.id == LinkRequest.resident_id)
        .join(Account, Account.id == LinkRequest.requester_id)
        .outerjoin(
            their_self,
            (their_self.account_id == Account.id) & (their_self.relation == Relation.SELF.value),
        )
        .outerjoin(their_person, their_person.id == their_self.resident_id)
        .where(
            LinkRequest.status == LinkStatus.PENDING.value,
            LinkRequest.approvable.is_(True),
            LinkRequest.expires_at > now,
            LinkRequest.requester_id != account.id,
            # Once the person has a login of their own, they decide: nobody else is asked.
            ~exists().where(
                AccountResident.resident_id == LinkRequest.resident_id,
                AccountResident.relation == Relation.SELF.value,
            ),
        )
        .order_by(LinkRequest.id)
    ).all()
    return [
        LinkRequestOut(
            id=request.public_id,
            name_masked=name_masked,
            requester_name_masked=requester_name,
            requester_phone_masked=requester.phone_masked,
            requester_platform=requester.platform,
            proxy_reason=request.proxy_reason,  # type: ignore[arg-type]  # written from the enum
            created_at=request.created_at,
            expires_at=request.expires_at,
        )
        for request, name_masked, requester, requester_name in rows
    ]


def sent_by(session: Session, account: Account) -> list[SentRequestOut]:
    """This account's requests, newest first; a lapsed one still shows ``pending`` with its
    ``expires_at`` past (an unapprovable request must look like any other)."""
    query = (
        select(LinkRequest)
        .where(LinkRequest.requester_id == account.id)
        .order_by(LinkRequest.id.desc())
        .limit(SENT_SHOWN)
    )
    return [
        SentRequestOut(
            id=r.public_id,
            name_masked=r.name_masked,
            status=r.status,  # type: ignore[arg-type]
            created_at=r.created_at,
            expires_at=r.expires_at,
        )
        for r in session.scalars(query)
    ]


def answer(
    session: Session,
    account_id: str,
    *,
    request_id: str,
    approve: bool,
    client: redis.Redis,
    rules: ResidentSettings,
    now: datetime,
) -> None:
    """A holder of the record approves or declines; the requester is told either way."""
    with session.begin():
        account = load_account(session, account_id)
        request = session.scalars(
            select(LinkRequest).where(LinkRequest.public_id == request_id).with_for_update()
        ).one_or_none()
        holds = request is not None and any(
            link.resident_id == request.resident_id for link in links_of(session, account)
        )
        if (
            request is None
            or not holds
            or not request.approvable
            or request.status != LinkStatus.PENDING
            or as_utc(request.expires_at) <= now
        ):
            raise NotFound("No such request waiting for you.", code="link_request_not_found")
        resident = request.resident
        request.decided_at = now
        if not approve:
            request.status = LinkStatus.DECLINED.value
            notices.tell(
                session, [request.requester_id], NoticeKind.LINK_DECLINED, request.name_masked
            )
            return
        if count_links(session, resident, Relation.SELF) > 0:
            raise Conflict(
                "This person has their own login now; they decide who holds their record.",
                code="resident_has_own_account",
            )
        requester = request.requester
        held = links_of(session, requester)
        if sum(link.relation == Relation.DEPENDENT for link in held) >= rules.max_dependents:
            raise Conflict(
                "The requester already holds as many family members as an account may.",
                code="too_many_dependents",
            )
        if not any(link.resident_id == resident.id for link in held):
            born = resident.birth_date
            young = born is not None and age_on(born, now.date()) < rules.guardian_consent_under_age
            # Asking for a child this young took the guardian's consent (the request was refused
            # without it); it applies from the link on.
            hold_as_dependent(
                session, requester, resident, request.proxy_reason, guardian_consent=young
            )
        request.status = LinkStatus.APPROVED.value
        notices.tell(session, [requester.id], NoticeKind.LINK_APPROVED, resident.name_masked)
        requester_id = requester.public_id
    forget_links(client, [requester_id])


def hold_as_dependent(
    session: Session,
    account: Account,
    resident: Resident,
    reason: str,
    *,
    guardian_consent: bool,
) -> AccountResident:
    """Link ``resident`` to ``account`` as a family member (in the caller's transaction), with
    the guardian's consent recorded if it was given."""
    link = AccountResident(
        account=account, resident=resident, relation=Relation.DEPENDENT, proxy_reason=reason
    )
    session.add(link)
    if guardian_consent:
        session.add(
            Consent(
                account_id=account.id,
                resident=resident,
                kind="guardian",
                document_version=GUARDIAN_CONSENT_VERSION,
            )
        )
    return link
