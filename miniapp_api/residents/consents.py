"""Consents to the legal documents: recorded as proof, asked before sensitive writes, withdrawn.

A consent row says which account agreed to which version of a document (``miniapp_api/legal``),
the SHA-256 of the page it was shown, when, and on which platform. Three rules use them:

* **Sensitive writes** (declaring oneself, adding a family member, starting a real-name
  check: anything that submits an ID number) need an active consent to the *current* version
  of every document of :data:`REQUIRED_FOR_SENSITIVE_DATA`; :func:`require_for_sensitive_data`
  refuses with ``409 consent_required`` naming what is missing, before anything is written or
  any platform is called. A new version of a document therefore asks again at the next one.
* **Withdrawal** (:func:`withdraw`) marks the active consent withdrawn (the row stays, as the
  proof of when consent ended) and drops the account's kept screens and links copy, so the
  next code or results request is built again and meets :func:`refuse_if_withdrawn`.
* **Codes and results** are refused (``409 consent_required``), and results are not pushed
  (:func:`withdrawn_accounts`, ``notify/worker.py``), only while a required consent was
  withdrawn and not given again: accounts from before consents existed keep their codes
  and are asked at their next sensitive write. The check is one indexed query, made only
  where a screen is built (never where the admission gate answers a kept one).

Giving consent to the current version again returns the active record (``created`` false)
instead of adding rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.errors import Conflict, NotFound
from miniapp_api.legal.documents import (
    DOCUMENTS,
    REQUIRED_FOR_SENSITIVE_DATA,
    ConsentUse,
    Document,
)
from miniapp_api.legal.rendering import content_hash
from miniapp_api.residents.accounts import load_account
from miniapp_api.residents.holdings import forget_links
from miniapp_api.residents.models import Account, Consent
from miniapp_api.residents.schemas import (
    ConsentOut,
    ConsentWithdrawnOut,
    DocumentOut,
    MeaningOut,
)

CONSENT_REQUIRED = (
    "Agree to the current version of these documents first (show them, then "
    "POST /api/v1/me/consents for each)."
)
REFUSED_AFTER_WITHDRAWAL = (
    "You withdrew your consent: codes and results are not shown until you agree again "
    "(POST /api/v1/me/consents)."
)

# What withdrawing means, as told to the person (PIPL Art. 15: withdrawal does not undo what
# was done before it; the data stays until the account is deleted, Art. 47).
_STOPS = MeaningOut(
    zh="撤回后、重新同意前：不再显示您和家人的核酸码，不再显示或推送检测结果；"
    "登记或修改身份信息、添加家人前需要重新同意。撤回不影响撤回前已进行的处理。"
    "已保存的个人信息不会因撤回而删除，直到您注销账号：在「我的」中注销账号"
    "（DELETE /api/v1/me）即删除。",
    en="Until you agree again: no registration code is shown for you or your family, and "
    "results are neither shown nor pushed; declaring yourself or adding family needs your "
    "consent again. Withdrawal does not affect what was done before it. The data we hold "
    "stays until you delete your account (Me, delete account: DELETE /api/v1/me), which "
    "erases it.",
)
_SEPARATE = MeaningOut(
    zh="您已撤回对身份证件号码和健康信息（敏感个人信息）的单独同意。" + _STOPS.zh,
    en="You withdrew your separate consent to ID numbers and health data (sensitive "
    "personal information). " + _STOPS.en,
)
_AGREEMENT = MeaningOut(
    zh="您已撤回对该文件的同意，本服务无法再为您处理个人信息。" + _STOPS.zh,
    en="You withdrew your agreement to this document: the service can no longer handle "
    "your personal information. " + _STOPS.en,
)


@dataclass(frozen=True)
class Given:
    consent: ConsentOut
    created: bool  # false: the same consent was already on record


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        name=document.name,
        version=document.version,
        title_zh=document.title_zh,
        title_en=document.title_en,
        url=f"/legal/{document.name}",
    )


def consent_out(row: Consent, resident_id: str | None = None) -> ConsentOut:
    """A consent as ``GET /me`` shows it; ``resident_id``: the public id of a guardian
    consent's dependent."""
    document = DOCUMENTS.get(row.kind)
    return ConsentOut(
        kind=row.kind,
        document_version=row.document_version,
        document_sha256=row.document_sha256,
        channel=row.channel,
        resident_id=resident_id,
        given_at=row.given_at,
        withdrawn_at=row.withdrawn_at,
        current=document is None or document.version == row.document_version,
    )


def give(
    session: Session, account_id: str, *, document: str, version: str, channel: str, now: datetime
) -> Given:
    """Record consent to ``version`` of ``document`` (one that asks for consent), which must
    be the current version: 409 ``document_outdated`` otherwise, naming the current one."""
    current = DOCUMENTS[document]
    if current.consent is ConsentUse.NOTICE:  # the schema's enum refuses them first
        raise NotFound("This document asks for no consent.", code="document_not_found")
    if version != current.version:
        raise Conflict(
            "This is not the current version of the document: show the current text and ask again.",
            code="document_outdated",
            detail={"documents": [document_out(current).model_dump()]},
        )
    with session.begin():
        # The account's row lock makes two taps of "agree" one consent, not two.
        account = load_account(session, account_id, for_update=True)
        active = _active(session, account, document)
        existing = next((c for c in active if c.document_version == current.version), None)
        if existing is not None:
            return Given(consent_out(existing), created=False)
        row = Consent(
            account_id=account.id,
            kind=document,
            document_version=current.version,
            document_sha256=content_hash(document),
            channel=channel,
            given_at=now,
        )
        session.add(row)
        session.flush()
        return Given(consent_out(row), created=True)


def withdraw(
    session: Session, account_id: str, *, document: str, client: redis.Redis, now: datetime
) -> ConsentWithdrawnOut:
    """Withdraw the account's active consent to ``document``; what that means, in zh and en.

    The account's kept screens and links copy are dropped after the commit, so its next code
    or results request is built again and refused (:func:`refuse_if_withdrawn`).
    """
    found = DOCUMENTS.get(document)
    if found is None or found.consent is ConsentUse.NOTICE:
        raise NotFound("No such document to withdraw consent from.", code="document_not_found")
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        active = _active(session, account, document)
        if not active:
            raise NotFound("You have no consent to this document to withdraw.", code="no_consent")
        for row in active:
            row.withdrawn_at = now
        session.flush()
        latest = active[-1]
        required = missing(_rows(session, account_id))
    forget_links(client, [account_id])
    return ConsentWithdrawnOut(
        consent=consent_out(latest),
        meaning=_SEPARATE if found.consent is ConsentUse.SEPARATE else _AGREEMENT,
        consents_required=[document_out(DOCUMENTS[name]) for name in required],
    )


def require_for_sensitive_data(session: Session, account_id: str) -> None:
    """409 ``consent_required`` unless the account has an active consent to the current
    version of each document of :data:`REQUIRED_FOR_SENSITIVE_DATA`. Its own read-only
    transaction, before the use case writes anything or calls a platform."""
    with session.begin():
        names = missing(_rows(session, account_id))
    if names:
        raise Conflict(
            CONSENT_REQUIRED,
            code="consent_required",
            detail={"documents": [document_out(DOCUMENTS[n]).model_dump() for n in names]},
        )


def refuse_if_withdrawn(session: Session, account_id: str) -> None:
    """409 ``consent_required`` while a required consent of the account is withdrawn and not
    given again. One indexed query; for the paths that build a code or results screen."""
    with session.begin():
        names = withdrawn(_rows(session, account_id))
    if names:
        raise Conflict(
            REFUSED_AFTER_WITHDRAWAL,
            code="consent_required",
            detail={"documents": [document_out(DOCUMENTS[n]).model_dump() for n in names]},
        )


@dataclass(frozen=True)
class _Row:
    kind: str
    document_version: str
    active: bool


def missing(rows: Iterable[_Row]) -> list[str]:
    """The required documents without an active consent to their current version."""
    agreed = {(r.kind, r.document_version) for r in rows if r.active}
    return [n for n in REQUIRED_FOR_SENSITIVE_DATA if (n, DOCUMENTS[n].version) not in agreed]


def withdrawn(rows: Sequence[_Row]) -> list[str]:
    """The required documents whose consent was withdrawn and not given again (to any
    version: an older one still active is asked again at the next sensitive write only)."""
    active = {r.kind for r in rows if r.active}
    ended = {r.kind for r in rows if not r.active}
    return [n for n in REQUIRED_FOR_SENSITIVE_DATA if n in ended and n not in active]


def required_of(rows: Iterable[Consent]) -> list[DocumentOut]:
    """``consents_required`` of ``GET /me``, from the account's consent rows."""
    facts = [_Row(c.kind, c.document_version, c.withdrawn_at is None) for c in rows]
    return [document_out(DOCUMENTS[n]) for n in missing(facts)]


def withdrawn_accounts(session: Session, account_ids: Collection[int]) -> set[int]:
    """Which of these accounts (internal ids) withdrew a required consent and did not give it
    again: the push worker sends them no results. One query per batch."""
    if not account_ids:
        return set()
    found = session.execute(
        select(
            Consent.account_id, Consent.kind, Consent.document_version, Consent.withdrawn_at
        ).where(
            Consent.account_id.in_(sorted(account_ids)),
            Consent.kind.in_(REQUIRED_FOR_SENSITIVE_DATA),
        )
    ).all()
    by_account: dict[int, list[_Row]] = {}
    for r in found:
        by_account.setdefault(r.account_id, []).append(
            _Row(r.kind, r.document_version, r.withdrawn_at is None)
        )
    return {account for account, rows in by_account.items() if withdrawn(rows)}


def _rows(session: Session, account_id: str) -> list[_Row]:
    """The account's consents to the required documents: one query on two indexes
    (``accounts.public_id``, ``consents.account_id``)."""
    found = session.execute(
        select(Consent.kind, Consent.document_version, Consent.withdrawn_at)
        .join(Account, Account.id == Consent.account_id)
        .where(Account.public_id == account_id, Consent.kind.in_(REQUIRED_FOR_SENSITIVE_DATA))
    ).all()
    return [_Row(r.kind, r.document_version, r.withdrawn_at is None) for r in found]


def _active(session: Session, account: Account, document: str) -> list[Consent]:
    query = (
        select(Consent)
        .where(
            Consent.account_id == account.id,
            Consent.kind == document,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.id)
    )
    return list(session.scalars(query))
