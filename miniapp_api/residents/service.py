"""Use cases of the resident behind an account: who am I, declare my profile, bind my phone.

Federation (README, "How identity works"): a profile whose ID number is already a resident
links this account to that resident only when the name matches and this account's
platform-verified phone matches the resident's phone. Anything else is refused and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import LoginChannel
from miniapp_api.errors import Conflict, ValidationFailed
from miniapp_api.residents import records
from miniapp_api.residents.accounts import (
    account_out,
    count_links,
    holders_of,
    links_of,
    load_account,
    resident_out,
    self_link,
)
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.identity import IdDocument, IdType, InvalidIdNumber, parse_id
from miniapp_api.residents.models import Account, AccountResident, Consent, Relation, Resident
from miniapp_api.residents.schemas import ConsentOut, MeOut, ProfileIn, ResidentOut
from miniapp_api.security.crypto import PersonalDataCrypto

CLAIM_REFUSED = (
    "This ID number is already registered. To use it from this login, bind the phone number "
    "the platform verified for you; the name and that phone must match the registration."
)


def parse_document(id_type: IdType, number: str, today: date) -> IdDocument:
    try:
        return parse_id(id_type, number, today=today)
    except InvalidIdNumber as exc:
        raise ValidationFailed(
            str(exc), code="invalid_id_number", detail=[{"field": "id_number", "problem": str(exc)}]
        ) from None


def me(session: Session, account_id: str) -> MeOut:
    """The account, its self resident, dependents and consents, all masked."""
    account = load_account(session, account_id)
    links = links_of(session, account)
    by_id = {link.resident_id: link.resident.public_id for link in links}
    consents = session.scalars(
        select(Consent).where(Consent.account_id == account.id).order_by(Consent.id)
    )
    me_self = next((link for link in links if link.relation == Relation.SELF), None)
    return MeOut(
        account=account_out(account),
        self=resident_out(me_self.resident, me_self.relation) if me_self else None,
        dependents=[
            resident_out(link.resident, link.relation)
            for link in links
            if link.relation == Relation.DEPENDENT
        ],
        consents=[
            ConsentOut(
                kind=c.kind,
                document_version=c.document_version,
                resident_id=by_id.get(c.resident_id) if c.resident_id else None,
                given_at=c.given_at,
            )
            for c in consents
        ],
    )


def declare_profile(
    session: Session,
    account_id: str,
    *,
    profile: ProfileIn,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
    today: date,
) -> ResidentOut:
    """Declare or correct who this account's holder is; links to an existing resident per §4.

    Afterwards the cached holdings of every account that shows this resident are dropped
    (a name correction changes the masked name they all show).
    """
    doc = parse_document(profile.id_type, profile.id_number, today)
    out = _declare(session, crypto, account_id, profile, doc)
    with session.begin():
        holders = holders_of(session, out.id)
    forget_links(client, {account_id, *holders})
    return out


def _declare(
    session: Session,
    crypto: PersonalDataCrypto,
    account_id: str,
    profile: ProfileIn,
    doc: IdDocument,
) -> ResidentOut:
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        current = self_link(session, account)
        existing = records.find_by_id(session, crypto, doc)
        if current is not None and existing is not None and existing.id == current.resident_id:
            records.set_name(existing, crypto, profile.name)  # a name correction
            return resident_out(existing, Relation.SELF)
        if existing is not None:
            _check_claim(session, crypto, account, existing, profile.name)
            if current is not None:
                _drop_self(session, current)
            session.add(AccountResident(account=account, resident=existing, relation=Relation.SELF))
            if existing.phone_index is None:
                records.copy_phone(account, existing)
            return resident_out(existing, Relation.SELF)
        if current is not None:
            resident = current.resident
            if count_links(session, resident) > 1:
                raise Conflict(
                    "This profile is shared with another login or held as someone's family "
                    "member, so its ID number cannot be changed here.",
                    code="profile_shared",
                )
            records.set_identity(resident, crypto, doc, profile.name)
            return resident_out(resident, Relation.SELF)
        resident = records.new_resident(crypto, doc, profile.name)
        if account.phone_index is not None:
            records.copy_phone(account, resident)
        session.add(resident)
        session.add(AccountResident(account=account, resident=resident, relation=Relation.SELF))
        session.flush()
        return resident_out(resident, Relation.SELF)


def _check_claim(
    session: Session,
    crypto: PersonalDataCrypto,
    account: Account,
    resident: Resident,
    name: str,
) -> None:
    if any(link.resident_id == resident.id for link in links_of(session, account)):
        raise Conflict("This person is already one of your family members.", code="already_linked")
    if account.phone_index is None:
        raise Conflict(CLAIM_REFUSED, code="phone_required")
    phone_ok = resident.phone_index is not None and resident.phone_index == account.phone_index
    if not (phone_ok and records.name_matches(resident, crypto, name)):
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
    """Verify the phone with the platform, store it on the account and its self resident."""
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
        if current is not None:
            records.copy_phone(account, current.resident)
        return phone.masked
