"""Family members: an account holds codes and results for children and elderly relatives.

The city's rule for proxies: someone else may hold a person who is under 18, 60 or over, or
declared unable to apply themselves (the declaration is recorded). A new person links at once.
An existing record links at once only when the adder's own real name is confirmed by the
platform (they answer for it as guardian), the name matches and the person has no login of
their own; every other case becomes a request that the record's holders approve or decline
(:mod:`.requests`), answered the same way whatever the record is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import redis
from sqlalchemy.orm import Session

from miniapp_api.errors import Conflict, NotFound, ValidationFailed
from miniapp_api.residents import notices, records, requests
from miniapp_api.residents.accounts import (
    count_links,
    holder_account_ids,
    links_of,
    load_account,
    resident_out,
    sandbox_scope,
)
from miniapp_api.residents.consents import require_for_sensitive_data
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.identity import age_on, mask_name, parse_document
from miniapp_api.residents.models import (
    AccountResident,
    NoticeKind,
    ProxyReason,
    Relation,
    Resident,
)
from miniapp_api.residents.schemas import DependentAddedOut, DependentIn
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import ResidentSettings


def add_dependent(
    session: Session,
    account_id: str,
    *,
    person: DependentIn,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
    rules: ResidentSettings,
    today: date,
    now: datetime,
) -> DependentAddedOut:
    """Add a family member: linked now, or a request to the record's holders. Needs the
    consents of :func:`~.consents.require_for_sensitive_data` (checked first)."""
    require_for_sensitive_data(session, account_id)
    doc = parse_document(person.id_type, person.id_number, today)
    born = doc.birth_date or person.birth_date
    if born is None:
        raise ValidationFailed(
            "Give the birth date for this ID type.",
            code="birth_date_required",
            detail=[{"field": "birth_date", "problem": "required for this id_type"}],
        )
    reason = proxy_reason(age_on(born, today), person.unable_to_apply, rules)
    if age_on(born, today) < rules.guardian_consent_under_age and not person.guardian_consent:
        raise ValidationFailed(
            f"Children under {rules.guardian_consent_under_age} need the guardian's consent.",
            code="guardian_consent_required",
            detail=[{"field": "guardian_consent", "problem": "must be true for a minor"}],
        )
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        links = links_of(session, account)
        if sum(link.relation == Relation.DEPENDENT for link in links) >= rules.max_dependents:
            raise Conflict(
                f"An account can hold at most {rules.max_dependents} family members.",
                code="too_many_dependents",
            )
        sandbox = sandbox_scope(account)
        resident = records.find_by_id(session, crypto, doc, sandbox=sandbox)
        if resident is None:
            resident = records.new_resident(crypto, doc, person.name, sandbox=sandbox)
            resident.birth_date = born
            session.add(resident)
        elif any(link.resident_id == resident.id for link in links):
            raise Conflict("This person is already on your account.", code="already_linked")
        elif not (facts := _facts(session, crypto, links, resident, person.name)).links_at_once:
            request = requests.record(
                session,
                account,
                resident,
                name_masked=mask_name(person.name),
                reason=reason,
                approvable=facts.approvable,
                rules=rules,
                now=now,
            )
            session.flush()
            return DependentAddedOut(status="pending", dependent=None, request_id=request.public_id)
        else:
            others = [h for h in holder_account_ids(session, resident) if h != account.id]
            notices.tell(session, others, NoticeKind.HOLDER_ADDED, resident.name_masked)
        link = requests.hold_as_dependent(
            session, account, resident, reason.value, guardian_consent=person.guardian_consent
        )
        session.flush()
        added = resident_out(resident, link)
    forget_links(client, [account_id])
    return DependentAddedOut(status="linked", dependent=added, request_id=None)


def proxy_reason(age: int, declared_unable: bool, rules: ResidentSettings) -> ProxyReason:
    """Which rule lets someone else hold a person of ``age``; 422 if none does."""
    if age < rules.proxy_minor_under_age:
        return ProxyReason.MINOR
    if age >= rules.proxy_elderly_from_age:
        return ProxyReason.ELDERLY
    if declared_unable:
        return ProxyReason.UNABLE
    raise ValidationFailed(
        f"Family members are children under {rules.proxy_minor_under_age}, people aged "
        f"{rules.proxy_elderly_from_age} and over, or someone who cannot apply themselves "
        "(declare it with unable_to_apply). Other adults register with their own login.",
        code="proxy_not_allowed",
        detail=[{"field": "unable_to_apply", "problem": "required for this age"}],
    )


@dataclass(frozen=True)
class _Facts:
    """What decides how a request for an existing record is answered (each looked up once)."""

    adder_verified: bool
    name_matches: bool
    own_login: bool
    held: bool

    @property
    def links_at_once(self) -> bool:
        """The adder's real name is confirmed, the name matches, the person has no own login."""
        return self.adder_verified and self.name_matches and not self.own_login

    @property
    def approvable(self) -> bool:
        """A holder may see the request: the name matches, no own login, somebody holds it."""
        return self.name_matches and not self.own_login and self.held


def _facts(
    session: Session,
    crypto: PersonalDataCrypto,
    links: list[AccountResident],
    resident: Resident,
    name: str,
) -> _Facts:
    return _Facts(
        adder_verified=any(
            x.relation == Relation.SELF and x.verified_at is not None for x in links
        ),
        name_matches=records.name_matches(resident, crypto, name),
        own_login=count_links(session, resident, Relation.SELF) > 0,
        held=count_links(session, resident) > 0,
    )


def remove_dependent(
    session: Session, account_id: str, *, resident_id: str, client: redis.Redis
) -> None:
    """Unlink a family member. Unknown ids and other accounts' members are the same 404."""
    with session.begin():
        account = load_account(session, account_id)
        link = next(
            (
                link
                for link in links_of(session, account)
                if link.resident.public_id == resident_id and link.relation == Relation.DEPENDENT
            ),
            None,
        )
        if link is None:
            raise NotFound("No such family member.", code="dependent_not_found")
        # The resident row stays: it is the system of record for their results and codes.
        session.delete(link)
    forget_links(client, [account_id])
