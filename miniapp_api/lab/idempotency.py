"""``Idempotency-Key`` for lab requests: a retried request gets the first answer, once.

A key is claimed by committing an ``in_flight`` row before any work, so a concurrent
duplicate sees it; the work and the ``done`` answer then commit together, so an answer is
stored exactly when the results are. If the work fails, the claim is released and the same
key may be retried.

The owner of a claim works under an advisory lock on the key (PostgreSQL): the first statement
of its work's transaction takes the lock and checks that the claim is still its own
(:func:`hold`), and the lock ends with that transaction, by commit, rollback or the death of its
connection (a node killed, the database restarted). A request that finds the key ``in_flight``
tries that lock without waiting:

- held: the owner is at work, alive; the request is told 409 (``Retry-After``) rather than
  made to wait, which would hold a worker thread and a database connection per duplicate;
- free: no one is at work on the claim (its owner died, or is between its claim's commit and
  its work's first statement): the request takes the claim over at once, as a new row, so
  an owner that was only between the two finds its claim gone in :func:`hold` and answers 409
  without doing anything. Either way the batch is applied once, under the lock.

A claim is known by its row's id and time, so a former owner (one whose session the database
ended while its process lived on) can neither complete nor release its successor's claim.
No lock outlives its transaction, so none can go back to the connection pool held. SQLite
(the embedded single-process default) has no advisory locks: there a claim is taken over only
once it is :data:`ABANDONED_AFTER` old.

The fingerprint stored in ``body_sha256`` is the SHA-256 of the method, the path and the body:
the same key sent to another tube's amend URL is "another body" too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.dialects import lock_for_transaction, try_lock_for_transaction
from miniapp_api.errors import BadRequest, Conflict, ValidationFailed
from miniapp_api.lab.models import LabRequest

HEADER = "Idempotency-Key"
# SQLite only (PostgreSQL asks the owner's lock): ingest of a full batch takes about a second,
# so a claim this old belongs to a dead worker.
ABANDONED_AFTER = timedelta(minutes=2)
_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class KeyClaim:
    """This request owns the key: :func:`hold` it first in the work's transaction, do the work,
    then :func:`complete` in the same transaction."""

    request_id: int
    claimed_at: datetime  # with the id, tells this claim from a later one of the same key
    lock: int  # the advisory lock of the lab's key


@dataclass(frozen=True)
class StoredAnswer:
    """The key was used before for this very request: answer what was answered then."""

    status: int
    body: dict[str, Any]


def parse_key(raw: str | None, *, required: bool) -> str | None:
    """The header's value, checked; 400 when missing (if required) or malformed."""
    if raw is None or raw == "":
        if required:
            raise BadRequest(
                f"Send an {HEADER} header (one per batch; reuse it only to retry that batch).",
                code="idempotency_key_required",
            )
        return None
    if not _KEY.fullmatch(raw):
        raise BadRequest(
            f"{HEADER} must be 1 to 128 printable ASCII characters without spaces.",
            code="invalid_idempotency_key",
        )
    return raw


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _lock_id(lab_pk: int, key: str) -> int:
    """The advisory lock of a lab's key: a signed 64-bit number, the same in every process."""
    digest = hashlib.sha256(f"lab_request\n{lab_pk}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim(
    session: Session, lab_pk: int, *, key: str, request_fingerprint: str, now: datetime
) -> KeyClaim | StoredAnswer:
    """Claim ``key`` for this request (committed at once), or say why not.

    Raises 422 if the key was used for another request, 409 while the first one is at work.
    """
    lock = _lock_id(lab_pk, key)
    with session.begin():
        try:
            with session.begin_nested():
                row = _new_claim(session, lab_pk, key, request_fingerprint, now)
            return KeyClaim(row.id, now, lock)
        except IntegrityError:
            pass  # the key exists: decide below, in the same transaction
        found = session.scalars(
            select(LabRequest).where(LabRequest.lab_id == lab_pk, LabRequest.idempotency_key == key)
        ).one_or_none()
        if found is None:  # released by its failed owner just now: the retry may claim it
            raise _in_flight()
        if found.body_sha256 != request_fingerprint:
            raise ValidationFailed(
                f"This {HEADER} was used for a different request; use a new key for new data.",
                code="idempotency_key_reused",
            )
        if found.status == "done" and found.response_status is not None:
            return StoredAnswer(found.response_status, found.response or {})
        if _nobody_at_work(session, found, lock, now):
            taken = _take_over(session, found, now)
            if taken is not None:
                return KeyClaim(taken, now, lock)
        raise _in_flight()


def hold(session: Session, owned: KeyClaim) -> None:
    """Lock the key until the work's transaction ends (call it first there), and check the
    claim is still this request's; 409 if a retry took it over in the meantime."""
    lock_for_transaction(session, owned.lock)  # a retry taking the claim over holds it briefly
    if session.scalar(select(LabRequest.id).where(*_mine(owned))) is None:
        raise _in_flight()


def complete(session: Session, owned: KeyClaim, *, status: int, body: dict[str, Any]) -> None:
    """Store the answer; call inside the transaction that does the work (409 and the work
    undone if the claim is no longer this request's, which :func:`hold` has ruled out)."""
    stored = session.execute(
        update(LabRequest)
        .where(*_mine(owned))
        .values(status="done", response_status=status, response=body)
    )
    if not (isinstance(stored, CursorResult) and stored.rowcount == 1):
        raise _in_flight()


def release(session: Session, owned: KeyClaim) -> None:
    """Give the key back after a failure, so the same request can be retried."""
    if session.in_transaction():
        session.rollback()
    with session.begin():
        session.execute(delete(LabRequest).where(*_mine(owned)))


def _mine(owned: KeyClaim) -> tuple[ColumnElement[bool], ...]:
    """The conditions of ``owned``'s row while in flight: its id and its time, as SQLite may
    give a deleted row's id to the next."""
    return (
        LabRequest.id == owned.request_id,
        LabRequest.created_at == owned.claimed_at,
        LabRequest.status == "in_flight",
    )


def _new_claim(
    session: Session, lab_pk: int, key: str, request_fingerprint: str, now: datetime
) -> LabRequest:
    row = LabRequest(
        lab_id=lab_pk,
        idempotency_key=key,
        body_sha256=request_fingerprint,
        status="in_flight",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _nobody_at_work(session: Session, found: LabRequest, lock: int, now: datetime) -> bool:
    """Whether no one works on the ``in_flight`` claim ``found``: its lock is free (and now
    held by this transaction) on PostgreSQL; it is older than ABANDONED_AFTER on SQLite."""
    free = try_lock_for_transaction(session, lock)
    if free is None:
        return as_utc(found.created_at) <= now - ABANDONED_AFTER
    return free


def _take_over(session: Session, found: LabRequest, now: datetime) -> int | None:
    """Replace the claim ``found`` by this request's, as a new row (so that its former owner's
    :func:`hold` sees it gone): the new claim's id, or None if another retry won it."""
    gone = session.execute(
        delete(LabRequest)
        .where(LabRequest.id == found.id, LabRequest.status == "in_flight")
        .execution_options(synchronize_session=False)
    )
    if not (isinstance(gone, CursorResult) and gone.rowcount == 1):
        return None
    session.expunge(found)  # SQLite may give the new row the same id
    return _new_claim(session, found.lab_id, found.idempotency_key, found.body_sha256, now).id


def _in_flight() -> Conflict:
    return Conflict(
        f"A request with this {HEADER} is still being processed; retry in a moment "
        "to get its answer.",
        code="request_in_flight",
        headers={"Retry-After": "2"},
    )
