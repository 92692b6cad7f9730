"""Account deletion (注销, PIPL Art. 47): what the database keeps of an account, erased at once.

One transaction removes, for the calling account:

* the account row itself: the platform subject (openid / Alipay user id), unionid, WeChat
  session_key, the bound phone (ciphertext, blind index, mask);
* its links (``account_residents``), consents, subscriptions, notices, link requests it made,
  and every outbox row addressed to it (queued or already sent: a sent row keeps the
  platform's message id);
* the residents it holds that no other account holds (its own dependents, and its self
  resident unless another login still links it: then only the link goes), with their
  registration codes, consents given for them and requests to hold them (rows deleted, never
  flagged). A resident another account holds stays exactly as it is, phone included: it is
  that account's record of a person still using the service.

What is kept of the removed residents is their screening, without identity, for as long as the
results' retention rule says (``[RETENTION]``; the purge job deletes it then). A sampling
(round, tube, site, staff member, time) and its person result (state, test time) say where a
person was and how they tested only while they point at the person, so each kept row is cut
loose from the person and from every other kept row: ``samplings.resident_id`` and
``person_results.resident_id`` become minus the sampling's own id (unique, never a resident's
id, which are positive: no foreign key since migration 0010, no join finds a person), and
``samplings.code_id`` (the registration code's random id, shared by every sampling made with
one code) becomes empty. Two samplings of the same removed person can no longer be told to be
one person's. Outbox rows announcing those results to any account are deleted: they would tie
the result back to a login that once held the person. The tube, its result and amendments are
the tube's (up to 20 people) and stay.

Kept on purpose, and why:

* ``audit_events`` keeps the pseudonymous public ids of the account and residents (scans and
  this deletion name them): the trail is append-only and hash-chained (an erased row breaks
  the chain ``miniapp audit verify`` checks), is a legal duty (GB/T 35273 records of
  processing), and the ids are random strings that, once the rows above are gone, lead to no
  one. The audit trail's own retention applies.
* ``scan_receipts`` keep the answer the sampling staff were shown (the code's masked name, the
  ID number's last four characters): masked, tied to no resident row, purged with the
  results' retention; finding them would mean reading every receipt's JSON.
* Other accounts' notices keep the masked name they showed.

The caller then purges Redis (:mod:`miniapp_api.rights.purge`) with the :class:`Deletion`
this returns: the ids to purge, read before the rows went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, delete, literal, select, update
from sqlalchemy.orm import Session

from miniapp_api.audit import service as audit
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.notify.models import Subscription
from miniapp_api.residents.accounts import load_account
from miniapp_api.residents.models import (
    Account,
    AccountResident,
    Consent,
    LinkRequest,
    Notice,
    Resident,
)
from miniapp_api.results.models import OutboxMessage, PersonResult
from miniapp_api.sampling.models import Sampling

DELETE_ACTION = "account.delete"


@dataclass(frozen=True)
class IssuedCodeRef:
    """What signs a removed resident's code again (to find its cached image): no token."""

    code_id: str
    kid: str
    name_masked: str
    expires_at: datetime


@dataclass(frozen=True)
class Deletion:
    """What one deletion removed (public ids for the Redis purge) and counts for the answer."""

    account_id: str
    removed_residents: tuple[str, ...]  # public ids, held by no other account
    kept_residents: tuple[str, ...]  # public ids, still held by another account
    codes: tuple[IssuedCodeRef, ...]  # the removed residents' registration codes
    counts: dict[str, int] = field(default_factory=dict)


def delete_account(
    session: Session, account_id: str, *, now: datetime, request_id: str = ""
) -> Deletion:
    """Erase the account ``account_id`` (public id) as the module says, in one transaction,
    audit record included; 401 if it is already gone."""
    with session.begin():
        account = load_account(session, account_id, for_update=True)
        held = _held_residents(session, account)
        _lock(session, [r.id for r in held])
        shared = _held_elsewhere(session, account, [r.id for r in held])
        removed = [r for r in held if r.id not in shared]
        kept = [r for r in held if r.id in shared]
        gone = [r.id for r in removed]
        codes = _codes_of(session, removed)
        counts = {"residents_removed": len(removed), "residents_kept": len(kept)}
        anonymised, announced = _anonymise_screening(session, gone)
        counts["results_anonymised"] = anonymised
        # A full scan of the outbox (no index on account_id: bench/ingest.py): a deletion is
        # rare, and a sent row keeps the platform's message id, so none may stay.
        counts["pushes_removed"] = announced + _delete(
            session, OutboxMessage, OutboxMessage.account_id == account.id
        )
        counts["codes_removed"] = _delete(
            session, RegistrationCode, RegistrationCode.resident_id.in_(gone)
        )
        counts["consents_removed"] = _delete(
            session, Consent, (Consent.account_id == account.id) | Consent.resident_id.in_(gone)
        )
        counts["link_requests_removed"] = _delete(
            session,
            LinkRequest,
            (LinkRequest.requester_id == account.id) | LinkRequest.resident_id.in_(gone),
        )
        counts["notices_removed"] = _delete(session, Notice, Notice.account_id == account.id)
        counts["subscriptions_removed"] = _delete(
            session, Subscription, Subscription.account_id == account.id
        )
        counts["links_removed"] = _delete(
            session,
            AccountResident,
            (AccountResident.account_id == account.id) | AccountResident.resident_id.in_(gone),
        )
        _delete(session, Resident, Resident.id.in_(gone))
        _delete(session, Account, Account.id == account.id)
        # Last: the trail's lock is held from here to the commit (audit/service.py).
        audit.record(
            session,
            actor_kind=audit.ActorKind.ACCOUNT,
            actor=account_id,
            action=DELETE_ACTION,
            # Counts only, and short (the column holds 128 characters).
            object=(
                f"residents_removed={len(removed)} residents_kept={len(kept)} "
                f"results_anonymised={counts['results_anonymised']}"
            ),
            request_id=request_id,
            at=now,
        )
    return Deletion(
        account_id,
        tuple(r.public_id for r in removed),
        tuple(r.public_id for r in kept),
        codes,
        counts,
    )


@dataclass(frozen=True)
class _Held:
    id: int
    public_id: str
    name_masked: str


def _held_residents(session: Session, account: Account) -> list[_Held]:
    rows = session.execute(
        select(Resident.id, Resident.public_id, Resident.name_masked)
        .join(AccountResident, AccountResident.resident_id == Resident.id)
        .where(AccountResident.account_id == account.id)
        .order_by(AccountResident.id)
    )
    return [_Held(*row) for row in rows]


def _lock(session: Session, resident_ids: Sequence[int]) -> None:
    """Lock the held residents' rows: a link another account makes to one of them meanwhile
    (its foreign key check) waits for this commit, and then finds the resident gone; one made
    before is seen by :func:`_held_elsewhere`, which reads after the lock."""
    if resident_ids:
        session.execute(
            select(Resident.id)
            .where(Resident.id.in_(resident_ids))
            .order_by(Resident.id)
            .with_for_update()
        )


def _held_elsewhere(session: Session, account: Account, resident_ids: Sequence[int]) -> set[int]:
    if not resident_ids:
        return set()
    query = select(AccountResident.resident_id).where(
        AccountResident.resident_id.in_(resident_ids), AccountResident.account_id != account.id
    )
    return set(session.scalars(query))


def _codes_of(session: Session, removed: Sequence[_Held]) -> tuple[IssuedCodeRef, ...]:
    names = {r.id: r.name_masked for r in removed}
    if not names:
        return ()
    rows = session.execute(
        select(
            RegistrationCode.code_id,
            RegistrationCode.kid,
            RegistrationCode.resident_id,
            RegistrationCode.expires_at,
        ).where(RegistrationCode.resident_id.in_(list(names)))
    )
    return tuple(
        IssuedCodeRef(code_id, kid, names[resident_id], expires_at)
        for code_id, kid, resident_id, expires_at in rows
    )


def _anonymise_screening(session: Session, resident_ids: Sequence[int]) -> tuple[int, int]:
    """Cut the removed residents' samplings and person results loose (module docstring);
    delete the outbox rows announcing those results. The numbers of samplings kept and of
    outbox rows deleted."""
    if not resident_ids:
        return 0, 0
    sampling_ids = list(
        session.scalars(select(Sampling.id).where(Sampling.resident_id.in_(resident_ids)))
    )
    if not sampling_ids:
        return 0, 0
    # person_results has no index on resident_id (bench/ingest.py): reach it by sampling_id.
    result_ids = list(
        session.scalars(select(PersonResult.id).where(PersonResult.sampling_id.in_(sampling_ids)))
    )
    announced = 0
    if result_ids:
        announced = _delete(session, OutboxMessage, OutboxMessage.person_result_id.in_(result_ids))
        session.execute(
            update(PersonResult)
            .where(PersonResult.id.in_(result_ids))
            .values(resident_id=-PersonResult.sampling_id)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Sampling)
        .where(Sampling.id.in_(sampling_ids))
        .values(resident_id=-Sampling.id, code_id=literal(""))
        .execution_options(synchronize_session=False)
    )
    return len(sampling_ids), announced


def _delete(session: Session, model: type[object], where: ColumnElement[bool]) -> int:
    """Delete the rows of ``model`` matching ``where``; how many."""
    table = model.__table__  # type: ignore[attr-defined]
    done = session.execute(delete(table).where(where))
    return int(done.rowcount)  # type: ignore[attr-defined]  # a DELETE's CursorResult
