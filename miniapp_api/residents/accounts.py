"""Loading an account and its links; shared by the profile, phone and family use cases."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.errors import NotFound, Unauthorized
from miniapp_api.residents.models import Account, AccountResident, Relation, Resident
from miniapp_api.residents.schemas import AccountOut, ResidentOut

# accounts.platform (and app_id) of the platforms' reviewers (miniapp_api/review).
REVIEW_PLATFORM = "review"


def sandbox_scope(account: Account) -> str | None:
    """The namespace of the blind indexes of what this account declares: its own, for a
    reviewer (nothing a reviewer types can meet a real resident: ``records.id_index``);
    ``None``, the real one, for everyone else."""
    return account.public_id if account.platform == REVIEW_PLATFORM else None


def load_account(session: Session, account_id: str, *, for_update: bool = False) -> Account:
    """The account behind a session; a session whose account is gone is no longer valid."""
    query = select(Account).where(Account.public_id == account_id)
    if for_update:
        query = query.with_for_update()
    account = session.scalars(query).one_or_none()
    if account is None:
        raise Unauthorized("This login no longer exists; log in again.")
    return account


def links_of(session: Session, account: Account) -> list[AccountResident]:
    query = (
        select(AccountResident)
        .where(AccountResident.account_id == account.id)
        .order_by(AccountResident.id)
    )
    return list(session.scalars(query))


def self_link(session: Session, account: Account) -> AccountResident | None:
    return next(
        (link for link in links_of(session, account) if link.relation == Relation.SELF), None
    )


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.public_id, platform=account.platform, phone_masked=account.phone_masked
    )


def resident_out(resident: Resident, link: AccountResident) -> ResidentOut:
    """The resident as the holder of ``link`` sees it."""
    return ResidentOut(
        id=resident.public_id,
        relation=Relation(link.relation).value,
        name_masked=resident.name_masked,
        id_type=resident.id_type,  # type: ignore[arg-type]  # validated on write
        id_masked=resident.id_masked,
        phone_masked=resident.phone_masked,
        verified=link.verified_at is not None,
    )


def count_links(session: Session, resident: Resident, relation: Relation | None = None) -> int:
    query = select(AccountResident).where(AccountResident.resident_id == resident.id)
    if relation is not None:
        query = query.where(AccountResident.relation == relation)
    return len(list(session.scalars(query)))


def resident_for_account(session: Session, account: Account, resident_id: str) -> AccountResident:
    """The caller's link to ``resident_id`` (self or dependent). Unknown and other people's
    residents are the same 404, so ids cannot be probed."""
    link = next(
        (x for x in links_of(session, account) if x.resident.public_id == resident_id), None
    )
    if link is None:
        raise NotFound("No such resident on your account.", code="resident_not_found")
    return link


def holder_account_ids(session: Session, resident: Resident) -> list[int]:
    """Internal ids of every account holding the resident (as self or dependent)."""
    query = select(AccountResident.account_id).where(AccountResident.resident_id == resident.id)
    return list(session.scalars(query))
