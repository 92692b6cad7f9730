"""Who holds a person's record: the person sees every other login holding it and may remove
them (README, "Family links").

A person removes any family holder; another self login (someone who claimed the record with
name and phone) only when the person's own link is verified and that one is not.
"""

from __future__ import annotations

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from miniapp_api.errors import Conflict, NotFound
from miniapp_api.residents import notices
from miniapp_api.residents.accounts import load_account, self_link
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.models import Account, AccountResident, NoticeKind, Relation, Resident
from miniapp_api.residents.schemas import HolderOut


def holders(session: Session, mine: AccountResident) -> list[HolderOut]:
    """The other links to the resident of ``mine``, with what their accounts show of themselves."""
    theirs = aliased(AccountResident)
    their_self = aliased(AccountResident)
    their_person = aliased(Resident)
    rows = session.execute(
        select(theirs, Account, their_person.name_masked)
        .join(Account, Account.id == theirs.account_id)
        .outerjoin(
            their_self,
            (their_self.account_id == Account.id) & (their_self.relation == Relation.SELF.value),
        )
        .outerjoin(their_person, their_person.id == their_self.resident_id)
        .where(theirs.resident_id == mine.resident_id, theirs.id != mine.id)
        .order_by(theirs.id)
    ).all()
    return [
        HolderOut(
            id=link.public_id,
            relation=Relation(link.relation).value,
            platform=account.platform,
            name_masked=name_masked,
            phone_masked=account.phone_masked,
            verified=link.verified_at is not None,
            since=link.created_at,
        )
        for link, account, name_masked in rows
    ]


def verified_elsewhere(session: Session, mine: AccountResident) -> bool:
    """Whether another login's self link to the same resident is verified."""
    query = select(AccountResident.id).where(
        AccountResident.resident_id == mine.resident_id,
        AccountResident.relation == Relation.SELF.value,
        AccountResident.id != mine.id,
        AccountResident.verified_at.is_not(None),
    )
    return session.scalars(query.limit(1)).first() is not None


def remove_holder(
    session: Session, account_id: str, *, holder_id: str, client: redis.Redis
) -> None:
    """Remove another login's hold on your record; it is told. Unknown ids are one 404."""
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        mine = self_link(session, account)
        link = None
        if mine is not None:
            link = session.scalars(
                select(AccountResident).where(
                    AccountResident.public_id == holder_id,
                    AccountResident.resident_id == mine.resident_id,
                    AccountResident.id != mine.id,
                )
            ).one_or_none()
        if mine is None or link is None:
            raise NotFound("No such holder of your record.", code="holder_not_found")
        if link.relation == Relation.SELF and (
            mine.verified_at is None or link.verified_at is not None
        ):
            raise Conflict(
                "Another login holds this record as its own. Only a login whose real name the "
                "platform confirmed can remove one that is not confirmed.",
                code="holder_is_self",
            )
        removed = link.account
        session.delete(link)
        notices.tell(session, [removed.id], NoticeKind.HOLDER_REMOVED, mine.resident.name_masked)
        removed_id = removed.public_id
    forget_links(client, [removed_id])
