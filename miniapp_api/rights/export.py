"""The export (PIPL Art. 45): a copy of everything held about a login and the people it holds.

The one answer of the API that carries full names, ID numbers and phone numbers, decrypted,
by law and to the account's owner only: every row is reached from the caller's own account
(its links, the residents they name), never from an id in the request. What is not exported:
the WeChat session key (a credential: only whether one is kept), registration code tokens
(never stored: the codes' dates are), other logins' data (who else holds a record, their
requests that the caller may not see). Reading it writes one audit event (no values).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.audit import service as audit
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.db import as_utc
from miniapp_api.notify.models import Subscription
from miniapp_api.residents import requests
from miniapp_api.residents.accounts import load_account
from miniapp_api.residents.models import (
    Account,
    AccountResident,
    Consent,
    LinkRequest,
    Notice,
    Relation,
    Resident,
)
from miniapp_api.residents.records import ID_PURPOSE, NAME_PURPOSE, PHONE_PURPOSE
from miniapp_api.results.models import (
    OutboxMessage,
    PersonResult,
    TubeResult,
    TubeResultAmendment,
)
from miniapp_api.rights.schemas import (
    ExportAccountOut,
    ExportAmendmentOut,
    ExportCodeOut,
    ExportConsentOut,
    ExportLinkRequestOut,
    ExportNoticeOut,
    ExportOut,
    ExportPushOut,
    ExportResidentOut,
    ExportResultOut,
    ExportSamplingOut,
    ExportSubscriptionOut,
)
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube
from miniapp_api.security.crypto import PersonalDataCrypto

EXPORT_ACTION = "account.export"


def export_account(
    session: Session,
    account_id: str,
    *,
    crypto: PersonalDataCrypto,
    now: datetime,
    request_id: str = "",
) -> ExportOut:
    """Everything held about ``account_id`` (public id) and its residents; 401 if it is gone.
    One read-only snapshot of the rows, then the audit event in the same transaction."""
    with session.begin():
        account = load_account(session, account_id)
        links = _links(session, account)
        by_id = {resident.id: resident for _, resident in links}
        results = _samplings(session, list(by_id))
        out = ExportOut(
            generated_at=now,
            account=_account_out(account, crypto),
            residents=[
                _resident_out(link, resident, crypto, results.get(resident.id, []))
                for link, resident in links
            ],
            consents=_consents(session, account),
            notices=[
                ExportNoticeOut(
                    kind=n.kind,
                    name_masked=n.name_masked,
                    push_status=n.push_status,
                    created_at=n.created_at,
                )
                for n in session.scalars(
                    select(Notice).where(Notice.account_id == account.id).order_by(Notice.id)
                )
            ],
            subscriptions=[
                ExportSubscriptionOut(
                    template_id=s.template_id, remaining=s.remaining, updated_at=s.updated_at
                )
                for s in session.scalars(
                    select(Subscription)
                    .where(Subscription.account_id == account.id)
                    .order_by(Subscription.id)
                )
            ],
            pushes=_pushes(session, account, list(by_id)),
            link_requests=_link_requests(session, account, now=now),
        )
        _attach_codes(session, out, by_id)
        audit.record(
            session,
            actor_kind=audit.ActorKind.ACCOUNT,
            actor=account_id,
            action=EXPORT_ACTION,
            object=f"residents={len(links)}",
            request_id=request_id,
            at=now,
        )
    return out


def _links(session: Session, account: Account) -> list[tuple[AccountResident, Resident]]:
    rows = session.execute(
        select(AccountResident, Resident)
        .join(Resident, Resident.id == AccountResident.resident_id)
        .where(AccountResident.account_id == account.id)
        .order_by(AccountResident.id)
    ).all()
    pairs = [(row[0], row[1]) for row in rows]
    return sorted(pairs, key=lambda pair: pair[0].relation != Relation.SELF)


def _account_out(account: Account, crypto: PersonalDataCrypto) -> ExportAccountOut:
    return ExportAccountOut(
        id=account.public_id,
        platform=account.platform,
        app_id=account.app_id,
        subject=account.subject,
        unionid=account.unionid,
        phone=crypto.decrypt(PHONE_PURPOSE, account.phone_enc) if account.phone_enc else None,
        session_key_held=account.session_key_enc is not None,
        created_at=account.created_at,
        last_login_at=account.last_login_at,
    )


def _resident_out(
    link: AccountResident,
    resident: Resident,
    crypto: PersonalDataCrypto,
    samplings: list[ExportSamplingOut],
) -> ExportResidentOut:
    phone = crypto.decrypt(PHONE_PURPOSE, resident.phone_enc) if resident.phone_enc else None
    return ExportResidentOut(
        id=resident.public_id,
        relation=Relation(link.relation).value,
        proxy_reason=link.proxy_reason,
        verified_at=link.verified_at,
        held_since=link.created_at,
        name=crypto.decrypt(NAME_PURPOSE, resident.name_enc),
        id_type=resident.id_type,
        id_number=crypto.decrypt(ID_PURPOSE, resident.id_enc),
        phone=phone,
        birth_date=resident.birth_date,
        created_at=resident.created_at,
        updated_at=resident.updated_at,
        codes=[],
        samplings=samplings,
    )


def _attach_codes(session: Session, out: ExportOut, by_id: dict[int, Resident]) -> None:
    if not by_id:
        return
    public = {internal: resident.public_id for internal, resident in by_id.items()}
    codes: dict[str, list[ExportCodeOut]] = defaultdict(list)
    for code in session.scalars(
        select(RegistrationCode)
        .where(RegistrationCode.resident_id.in_(list(by_id)))
        .order_by(RegistrationCode.id)
    ):
        codes[public[code.resident_id]].append(
            ExportCodeOut(
                issued_at=code.issued_at, expires_at=code.expires_at, revoked_at=code.revoked_at
            )
        )
    for resident in out.residents:
        resident.codes = codes.get(resident.id, [])


def _samplings(session: Session, resident_ids: Sequence[int]) -> dict[int, list[ExportSamplingOut]]:
    """Each resident's samplings, newest first, with the person result, the tube's result and
    its amendments."""
    if not resident_ids:
        return {}
    rows = session.execute(
        select(
            Sampling.resident_id,
            Sampling.scanned_at,
            ScreeningRound.name,
            Site.name,
            Tube.tube_no,
            Tube.capacity,
            PersonResult,
            TubeResult,
        )
        .join(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .join(Site, Site.id == Sampling.site_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .outerjoin(PersonResult, PersonResult.sampling_id == Sampling.id)
        .outerjoin(TubeResult, TubeResult.tube_id == Sampling.tube_id)
        .where(Sampling.resident_id.in_(list(resident_ids)))
        .order_by(Sampling.scanned_at.desc(), Sampling.id.desc())
    ).all()
    amendments = _amendments(session, [r[7].id for r in rows if r[7] is not None])
    found: dict[int, list[ExportSamplingOut]] = defaultdict(list)
    for resident_id, scanned_at, round_name, site, tube_no, capacity, person, tube in rows:
        result = None
        if person is not None:
            result = ExportResultOut(
                state=person.state,
                tested_at=person.tested_at,
                updated_at=person.updated_at,
                tube_result=tube.result if tube is not None else None,
                amendments=amendments.get(tube.id, []) if tube is not None else [],
            )
        found[resident_id].append(
            ExportSamplingOut(
                round=round_name,
                site=site,
                tube_no=tube_no,
                tube_capacity=capacity,
                scanned_at=as_utc(scanned_at),
                result=result,
            )
        )
    return found


def _amendments(
    session: Session, tube_result_ids: Sequence[int]
) -> dict[int, list[ExportAmendmentOut]]:
    if not tube_result_ids:
        return {}
    found: dict[int, list[ExportAmendmentOut]] = defaultdict(list)
    for row in session.scalars(
        select(TubeResultAmendment)
        .where(TubeResultAmendment.tube_result_id.in_(list(set(tube_result_ids))))
        .order_by(TubeResultAmendment.id)
    ):
        found[row.tube_result_id].append(
            ExportAmendmentOut(
                previous_result=row.previous_result,
                new_result=row.new_result,
                previous_tested_at=row.previous_tested_at,
                reason=row.reason,
                amended_at=row.amended_at,
            )
        )
    return found


def _consents(session: Session, account: Account) -> list[ExportConsentOut]:
    rows = session.execute(
        select(Consent, Resident.public_id)
        .outerjoin(Resident, Resident.id == Consent.resident_id)
        .where(Consent.account_id == account.id)
        .order_by(Consent.id)
    ).all()
    return [
        ExportConsentOut(
            kind=consent.kind,
            resident_id=resident_id,
            document_version=consent.document_version,
            document_sha256=consent.document_sha256,
            channel=consent.channel,
            given_at=consent.given_at,
            withdrawn_at=consent.withdrawn_at,
        )
        for consent, resident_id in rows
    ]


def _pushes(session: Session, account: Account, resident_ids: Sequence[int]) -> list[ExportPushOut]:
    """Result messages to this login about the people it holds (reached through their
    results: the outbox has no index on the account, bench/ingest.py)."""
    if not resident_ids:
        return []
    results = (
        select(PersonResult.id)
        .join(Sampling, Sampling.id == PersonResult.sampling_id)
        .where(Sampling.resident_id.in_(list(resident_ids)))
    )
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.person_result_id.in_(results), OutboxMessage.account_id == account.id)
        .order_by(OutboxMessage.id)
    )
    return [
        ExportPushOut(
            status=row.status, version=row.version, created_at=row.created_at, sent_at=row.sent_at
        )
        for row in rows
    ]


def _link_requests(
    session: Session, account: Account, *, now: datetime
) -> list[ExportLinkRequestOut]:
    """Requests this login sent (never whether they could be approved: an unapprovable one
    must look like any other), and those of others waiting for its answer, exactly as
    ``GET /me`` shows them (``residents/requests.py``: no more of other people's requests)."""
    sent = [
        ExportLinkRequestOut(
            id=row.public_id,
            direction="sent",
            name_masked=row.name_masked,
            proxy_reason=row.proxy_reason,
            status=row.status,
            created_at=row.created_at,
            expires_at=row.expires_at,
            decided_at=row.decided_at,
        )
        for row in session.scalars(
            select(LinkRequest)
            .where(LinkRequest.requester_id == account.id)
            .order_by(LinkRequest.id)
        )
    ]
    received = [
        ExportLinkRequestOut(
            id=row.id,
            direction="received",
            name_masked=row.name_masked,
            proxy_reason=row.proxy_reason,
            status="pending",
            created_at=row.created_at,
            expires_at=row.expires_at,
            decided_at=None,
        )
        for row in requests.waiting_for(session, account, now=now)
    ]
    return sent + received
