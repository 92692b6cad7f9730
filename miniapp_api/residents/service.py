"""Use cases of the resident behind an account: who am I, declare my profile, bind my phone.

Claims on an existing record (README, "How identity works"): a profile whose ID number is
already a resident links this account to that resident when

- the platform's real-name check confirms the name and ID number are this login's person
  (``real_name_proof``): the link is *verified*, the record's name and phone become this
  person's, and every unverified self claim of other logins is taken over (they are told); or
- the name matches and this account's platform-verified phone equals the record's phone: an
  unverified link, as before.

Anything else is refused with one answer that does not say which part failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import LoginChannel
from miniapp_api.errors import Conflict
from miniapp_api.residents import held_by, notices, realname, records, requests
from miniapp_api.residents.accounts import (
    account_out,
    count_links,
    links_of,
    load_account,
    resident_out,
    sandbox_scope,
    self_link,
)
from miniapp_api.residents.consents import consent_out, require_for_sensitive_data, required_of
from miniapp_api.residents.holdings import forget_links, holder_accounts
from miniapp_api.residents.identity import IdDocument, parse_document
from miniapp_api.residents.models import (
    Account,
    AccountResident,
    Consent,
    NoticeKind,
    Relation,
    Resident,
)
from miniapp_api.residents.schemas import MeOut, ProfileIn, ResidentOut
from miniapp_api.security.crypto import PersonalDataCrypto

CLAIM_REFUSED = (
    "This ID number cannot be linked to your login. Confirm your real name with the platform "
    "(the real-name check in the app), or bind the phone number registered with it."
)
NOT_CONFIRMED = (
    "The platform did not confirm this name and ID number as the person behind your login. "
    "Check both, or finish the platform's real-name page first."
)


def me(session: Session, account_id: str, *, now: datetime) -> MeOut:
    """The account, its self resident, dependents, holders, requests, consents and notices."""
    account = load_account(session, account_id)
    links = links_of(session, account)
    by_id = {link.resident_id: link.resident.public_id for link in links}
    consents = list(
        session.scalars(
            select(Consent).where(Consent.account_id == account.id).order_by(Consent.id)
        )
    )
    me_self = next((link for link in links if link.relation == Relation.SELF), None)
    return MeOut(
        account=account_out(account),
        self=resident_out(me_self.resident, me_self) if me_self else None,
        dependents=[
            resident_out(link.resident, link)
            for link in links
            if link.relation == Relation.DEPENDENT
        ],
        consents=[
            consent_out(c, by_id.get(c.resident_id) if c.resident_id else None) for c in consents
        ],
        consents_required=required_of(consents),
        holders=held_by.holders(session, me_self) if me_self else [],
        link_requests=requests.waiting_for(session, account, now=now),
        sent_requests=requests.sent_by(session, account),
        notices=notices.recent(session, account.id),
    )


def declare_profile(
    session: Session,
    account_id: str,
    *,
    profile: ProfileIn,
    channel: LoginChannel,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
    today: date,
    now: datetime,
) -> ResidentOut:
    """Declare or correct who this account's holder is; links to an existing resident per §4.
    Needs the consents of :func:`~.consents.require_for_sensitive_data` (checked first).

    Afterwards the cached holdings of every account that shows this resident (or showed it,
    when taken over) are dropped: a name correction changes the masked name they all show.
    """
    require_for_sensitive_data(session, account_id)
    doc = parse_document(profile.id_type, profile.id_number, today)
    verified = False
    if profile.real_name_proof is not None:
        verified = realname.confirms(
            session,
            account_id,
            doc=doc,
            name=profile.name,
            proof=profile.real_name_proof.proof(),
            channel=channel,
            crypto=crypto,
            client=client,
        )
        if not verified:
            raise Conflict(NOT_CONFIRMED, code="real_name_not_confirmed")
    out, taken_from = _declare(
        session, crypto, account_id, profile.name, doc, verified_at=now if verified else None
    )
    with session.begin():
        holders = holder_accounts(session, [out.id])
    forget_links(client, {account_id, *holders, *taken_from})
    return out


def _declare(
    session: Session,
    crypto: PersonalDataCrypto,
    account_id: str,
    name: str,
    doc: IdDocument,
    *,
    verified_at: datetime | None,
) -> tuple[ResidentOut, list[str]]:
    """The declared self resident, and the accounts whose claims on it were taken over."""
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        current = self_link(session, account)
        sandbox = sandbox_scope(account)
        existing = records.find_by_id(session, crypto, doc, sandbox=sandbox)
        if current is not None and existing is not None and existing.id == current.resident_id:
            link = current
            if verified_at is None and held_by.verified_elsewhere(session, link):
                if not records.name_matches(existing, crypto, name):
                    raise Conflict(
                        "The person confirmed this record's name with the platform; only they "
                        "can correct it.",
                        code="profile_verified",
                    )
            else:
                records.set_name(existing, crypto, name)  # a name correction
        elif existing is not None:
            if verified_at is None:
                _check_claim(session, crypto, account, existing, name)
            elif any(x.resident_id == existing.id for x in links_of(session, account)):
                raise Conflict(
                    "This person is one of your family members; remove them first.",
                    code="already_linked",
                )
            if current is not None:
                _drop_self(session, current)
            link = AccountResident(account=account, resident=existing, relation=Relation.SELF)
            session.add(link)
            if existing.phone_index is None:
                records.copy_phone(account, existing)
        elif current is not None:
            link = current
            if count_links(session, link.resident) > 1:
                raise Conflict(
                    "This profile is shared with another login or held as someone's family "
                    "member, so its ID number cannot be changed here.",
                    code="profile_shared",
                )
            records.set_identity(link.resident, crypto, doc, name, sandbox=sandbox)
        else:
            resident = records.new_resident(crypto, doc, name, sandbox=sandbox)
            if account.phone_index is not None:
                records.copy_phone(account, resident)
            session.add(resident)
            link = AccountResident(account=account, resident=resident, relation=Relation.SELF)
            session.add(link)
        taken_from: list[str] = []
        if verified_at is not None:
            link.verified_at = verified_at
            taken_from = _take_over(session, crypto, account, link.resident, name)
        session.flush()
        return resident_out(link.resident, link), taken_from


def _take_over(
    session: Session, crypto: PersonalDataCrypto, account: Account, resident: Resident, name: str
) -> list[str]:
    """The real person verified: their name and phone are the record's, and every other
    unverified self claim on it is dropped (its account is told). Returns those accounts."""
    records.set_name(resident, crypto, name)
    records.copy_phone(account, resident)  # a squatter's phone must not keep opening it
    claims = session.scalars(
        select(AccountResident).where(
            AccountResident.resident_id == resident.id,
            AccountResident.relation == Relation.SELF,
            AccountResident.account_id != account.id,
            AccountResident.verified_at.is_(None),
        )
    ).all()
    taken = [claim.account for claim in claims]
    for claim in claims:
        session.delete(claim)
    notices.tell(session, (a.id for a in taken), NoticeKind.CLAIM_TAKEN_OVER, resident.name_masked)
    return [a.public_id for a in taken]


def _check_claim(
    session: Session,
    crypto: PersonalDataCrypto,
    account: Account,
    resident: Resident,
    name: str,
) -> None:
    if any(link.resident_id == resident.id for link in links_of(session, account)):
        raise Conflict("This person is already one of your family members.", code="already_linked")
    phone_ok = records.same_phone(crypto, account, resident)
    # Both are checked whatever the first says: the answer and its cost say nothing more.
    name_ok = records.name_matches(resident, crypto, name)
    if not (phone_ok and name_ok):
        raise Conflict(CLAIM_REFUSED, code="identity_claim_refused")


def _drop_self(session: Session, link: AccountResident) -> None:
    """Unlink the old self resident; delete it if nobody else holds it (it was only ours)."""
    resident = link.resident
    session.delete(link)
    session.flush()
    if count_links(session, resident) == 0:
        session.delete(resident)


def bind_phone(
    session: Session,
    account_id: str,
    *,
    proof: Mapping[str, str],
    channel: LoginChannel,
    crypto: PersonalDataCrypto,
) -> str:
    """Verify the phone with the platform, store it on the account and its self resident.

    The record's phone (a claim factor) changes only through a verified self link, or while no
    login has verified it: an unverified co-holder cannot move the record to their phone.
    """
    with session.begin():
        account = load_account(session, account_id)
        session_key = (
            crypto.decrypt(records.SESSION_KEY_PURPOSE, account.session_key_enc)
            if account.session_key_enc
            else None
        )
    # The platform call happens outside any transaction: no row lock is held across HTTP.
    phone = channel.verify_phone(proof, session_key)
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        records.set_phone(account, crypto, phone.phone)
        current = self_link(session, account)
        if current is not None and (
            current.verified_at is not None or not held_by.verified_elsewhere(session, current)
        ):
            records.copy_phone(account, current.resident)
        return phone.masked
