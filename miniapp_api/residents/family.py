"""Family members: an account holds codes and results for children and elderly relatives."""

from __future__ import annotations

from datetime import date

import redis
from sqlalchemy.orm import Session

from miniapp_api.errors import Conflict, NotFound, ValidationFailed
from miniapp_api.residents import records
from miniapp_api.residents.accounts import count_links, links_of, load_account, resident_out
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.identity import age_on
from miniapp_api.residents.models import AccountResident, Consent, Relation
from miniapp_api.residents.schemas import DependentIn, ResidentOut
from miniapp_api.residents.service import parse_document
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import ResidentSettings

GUARDIAN_CONSENT_VERSION = "2022-04"


def add_dependent(
    session: Session,
    account_id: str,
    *,
    person: DependentIn,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
    rules: ResidentSettings,
    today: date,
) -> ResidentOut:
    """Add a family member. A person who has their own login cannot be added by someone else."""
    doc = parse_document(person.id_type, person.id_number, today)
    born = doc.birth_date or person.birth_date
    if born is None:
        raise ValidationFailed(
            "Give the birth date for this ID type.",
            code="birth_date_required",
            detail=[{"field": "birth_date", "problem": "required for this id_type"}],
        )
    minor = age_on(born, today) < rules.guardian_consent_under_age
    if minor and not person.guardian_consent:
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
        resident = records.find_by_id(session, crypto, doc)
        if resident is None:
            resident = records.new_resident(crypto, doc, person.name)
            resident.birth_date = born
            session.add(resident)
        else:
            if any(link.resident_id == resident.id for link in links):
                raise Conflict("This person is already on your account.", code="already_linked")
            if count_links(session, resident, Relation.SELF) > 0:
                raise Conflict(
                    "This person manages their own login and cannot be added by someone else.",
                    code="resident_has_own_account",
                )
            if not records.name_matches(resident, crypto, person.name):
                raise Conflict(
                    "The name does not match the registration of this ID number.",
                    code="identity_claim_refused",
                )
        session.add(
            AccountResident(account=account, resident=resident, relation=Relation.DEPENDENT)
        )
        if person.guardian_consent:
            session.add(
                Consent(
                    account_id=account.id,
                    resident=resident,
                    kind="guardian",
                    document_version=GUARDIAN_CONSENT_VERSION,
                )
            )
        session.flush()
        added = resident_out(resident, Relation.DEPENDENT)
    forget_links(client, [account_id])
    return added


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
