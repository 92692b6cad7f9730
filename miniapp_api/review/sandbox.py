"""The reviewers' sandbox: synthetic people with a code and results in every state.

A reviewer's account is an ordinary account of the platform ``review`` (subject: the
reviewer's name), so every screen answers it as it answers a resident. What it holds is made
here, afresh at each reviewer login and by ``miniapp review reset``:

* **three synthetic residents**, flagged ``synthetic`` in the database: the reviewer (adult), a
  child (a dependent under 14, held with the guardian's consent) and an elderly parent. Names
  are plainly demo names; ID numbers come from the **reserved range**: mainland ID format with
  the region code ``99`` (GB 11643 check digit correct), which no province has, which no
  foreigner's permanent residence card can carry (those start with 9 followed by a real
  province code), and which our own validation refuses from every client
  (``residents/identity.py``). They can never be a real person's and never be typed in.
* **results in every state**, written to the read model of results only (what the results
  screen and the H5 lookup read): the reviewer's latest is negative, with a history of a
  retest, a positive and negatives; the child's is pending; the parent's is overdue. No
  sampling, tube or lab row is made for them, so no lab can post to them, no push is sent for
  them and no count of samplings or results includes them.
* codes are issued on demand, as for anyone; sampling sites answer a synthetic resident's code
  ``invalid`` (``sampling/service.py``).

What the reviewer writes (a profile, a dependent) stays in the sandbox: the blind index of an ID
number typed by a reviewer is taken in a namespace of its own account (``sandbox_scope``), so
it can neither find a real resident nor be found by one (``residents/records.py``).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.readmodel import ResultEntry
from miniapp_api.residents import records
from miniapp_api.residents.accounts import REVIEW_PLATFORM, sandbox_scope
from miniapp_api.residents.identity import IdDocument, IdType
from miniapp_api.residents.models import (
    Account,
    AccountResident,
    Consent,
    LinkRequest,
    Notice,
    ProxyReason,
    Relation,
    Resident,
)
from miniapp_api.security.crypto import PersonalDataCrypto

RESERVED_REGION = "99"  # the first two digits of every synthetic mainland ID number
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
SITE = "审核演示采样点 Review demo site"


@dataclass(frozen=True)
class _Person:
    name: str
    age: int
    relation: Relation
    proxy_reason: ProxyReason | None


PEOPLE: tuple[_Person, ...] = (
    _Person("审核演示员", 35, Relation.SELF, None),
    _Person("审核演示童", 8, Relation.DEPENDENT, ProxyReason.MINOR),
    _Person("审核演示长者", 72, Relation.DEPENDENT, ProxyReason.ELDERLY),
)


def reserved_id_number(born: date, rng: random.Random | None = None) -> str:
    """A valid-looking mainland ID number in the reserved range (region ``99``)."""
    pick = rng or random.SystemRandom()
    body = f"{RESERVED_REGION}{pick.randrange(10_000):04d}{born:%Y%m%d}{pick.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + _CHECK[total % 11]


def is_reserved(number: str) -> bool:
    return len(number) == 18 and number.startswith(RESERVED_REGION)


def reviewer_account(session: Session, name: str) -> Account:
    """The reviewer's account, made at their first login."""
    query = select(Account).where(
        Account.platform == REVIEW_PLATFORM,
        Account.app_id == REVIEW_PLATFORM,
        Account.subject == name,
    )
    found = session.scalars(query).one_or_none()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            account = Account(platform=REVIEW_PLATFORM, app_id=REVIEW_PLATFORM, subject=name)
            session.add(account)
        return account
    except IntegrityError:  # the same reviewer logging in twice at once
        return session.scalars(query).one()


@dataclass(frozen=True)
class Sandbox:
    """What a reset made and what it dropped (public ids), for the caller's Redis work."""

    account_id: str
    made: tuple[str, ...]
    dropped: tuple[str, ...]
    results: tuple[tuple[str, ResultEntry], ...]


def reset(
    session: Session, account: Account, *, crypto: PersonalDataCrypto, now: datetime
) -> Sandbox:
    """Empty the reviewer's sandbox and fill it again, in the caller's transaction.

    Drops everything the account made or holds (only synthetic residents: a reviewer cannot
    hold another) and its consents, link requests and notices; then makes the three people.
    The caller commits, then clears the read model of ``dropped``, records ``results`` and
    forgets the account's kept views (:func:`miniapp_api.review.service.reset_sandbox`).
    """
    dropped = _drop(session, account)
    made: list[str] = []
    results: list[tuple[str, ResultEntry]] = []
    for person in PEOPLE:
        resident = _synthetic_resident(session, account, person, crypto, now.date())
        link = AccountResident(
            account_id=account.id,
            resident_id=resident.id,
            relation=person.relation.value,
            proxy_reason=person.proxy_reason.value if person.proxy_reason else None,
            verified_at=now if person.relation is Relation.SELF else None,
        )
        session.add(link)
        if person.proxy_reason is ProxyReason.MINOR:
            session.add(
                Consent(
                    account_id=account.id,
                    resident_id=resident.id,
                    kind="guardian",
                    document_version="review-sandbox",
                    channel=REVIEW_PLATFORM,
                    given_at=now,
                )
            )
        made.append(resident.public_id)
        results += [(resident.public_id, e) for e in _history(person, now)]
    session.flush()
    return Sandbox(account.public_id, tuple(made), tuple(dropped), tuple(results))


def _drop(session: Session, account: Account) -> list[str]:
    held = session.execute(
        select(Resident.id, Resident.public_id)
        .join(AccountResident, AccountResident.resident_id == Resident.id)
        .where(AccountResident.account_id == account.id, Resident.synthetic.is_(True))
    ).all()
    ids = [row.id for row in held]
    session.execute(delete(AccountResident).where(AccountResident.account_id == account.id))
    session.execute(delete(Consent).where(Consent.account_id == account.id))
    session.execute(delete(LinkRequest).where(LinkRequest.requester_id == account.id))
    session.execute(delete(Notice).where(Notice.account_id == account.id))
    if ids:
        session.execute(delete(RegistrationCode).where(RegistrationCode.resident_id.in_(ids)))
        session.execute(delete(LinkRequest).where(LinkRequest.resident_id.in_(ids)))
        session.execute(delete(AccountResident).where(AccountResident.resident_id.in_(ids)))
        session.execute(delete(Resident).where(Resident.id.in_(ids)))
    return [row.public_id for row in held]


def _synthetic_resident(
    session: Session, account: Account, person: _Person, crypto: PersonalDataCrypto, today: date
) -> Resident:
    born = date(today.year - person.age, 6, 15)
    if born > today - timedelta(days=365 * person.age):
        born = date(today.year - person.age - 1, 6, 15)
    doc = IdDocument(IdType.CN_ID, reserved_id_number(born), born)
    resident = records.new_resident(crypto, doc, person.name, sandbox=sandbox_scope(account))
    resident.synthetic = True
    session.add(resident)
    session.flush()
    return resident


def _history(person: _Person, now: datetime) -> Sequence[ResultEntry]:
    """The results a person of the sandbox shows (newest first on the screen)."""

    def entry(days: float, state: str, tested_after_hours: float | None) -> ResultEntry:
        sampled = now - timedelta(days=days)
        tested = sampled + timedelta(hours=tested_after_hours) if tested_after_hours else None
        return ResultEntry(
            tube_no=f"RV{secrets.token_hex(5).upper()}",
            round_name=f"审核演示 第{int(days) + 1}天 Review demo, day -{int(days)}",
            site_name=SITE,
            sampled_at=sampled,
            state=state,
            tested_at=tested,
        )

    if person.relation is Relation.SELF:
        return (
            entry(1, "negative", 8),
            entry(4, "negative", 10),
            entry(11, "negative", 9),  # the retest after a pooled tube came back positive
            entry(12, "retest_required", 12),
            entry(40, "positive", 14),
            entry(55, "negative", 9),
        )
    if person.proxy_reason is ProxyReason.MINOR:
        return (entry(2 / 24, "pending", None), entry(3, "negative", 11))
    return (entry(3, "pending", None), entry(8, "negative", 10))  # overdue after 48 h
