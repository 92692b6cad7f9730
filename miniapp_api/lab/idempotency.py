"""``Idempotency-Key`` for lab requests: a retried request gets the first answer, once.

A key is claimed by committing an ``in_flight`` row before any work, so a concurrent
duplicate sees it and is told 409; the work and the ``done`` answer then commit together, so
an answer is stored exactly when the results are. If the work fails, the claim is released
and the same key may be retried. A claim left behind by a crashed worker is taken over after
:data:`ABANDONED_AFTER`.

The fingerprint stored in ``body_sha256`` is the SHA-256 of the method, the path and the body:
the same key sent to another tube's amend URL is "another body" too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miniapp_api.errors import BadRequest, Conflict, ValidationFailed
from miniapp_api.lab.models import LabRequest

HEADER = "Idempotency-Key"
# Ingest of a full batch takes about a second; a claim this old belongs to a dead worker.
ABANDONED_AFTER = timedelta(minutes=2)
_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class KeyClaim:
    """This request owns the key: do the work, then :func:`complete` in the same transaction."""

    request_id: int


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


def claim(
    session: Session, lab_pk: int, *, key: str, request_fingerprint: str, now: datetime
) -> KeyClaim | StoredAnswer:
    """Claim ``key`` for this request (committed at once), or say why not.

    Raises 422 if the key was used for another request, 409 while the first one is running.
    """
    with session.begin():
        try:
            with session.begin_nested():
                row = LabRequest(
                    lab_id=lab_pk,
                    idempotency_key=key,
                    body_sha256=request_fingerprint,
                    status="in_flight",
                    created_at=now,
                )
                session.add(row)
            return KeyClaim(row.id)
        except IntegrityError:
            pass  # the key exists: decide below, in the same transaction
        found = session.scalars(
            select(LabRequest).where(LabRequest.lab_id == lab_pk, LabRequest.idempotency_key == key)
        ).one()
        if found.body_sha256 != request_fingerprint:
            raise ValidationFailed(
                f"This {HEADER} was used for a different request; use a new key for new data.",
                code="idempotency_key_reused",
            )
        if found.status == "done" and found.response_status is not None:
            return StoredAnswer(found.response_status, found.response or {})
        if found.created_at > now - ABANDONED_AFTER or not _take_over(session, found, now):
            raise Conflict(
                f"A request with this {HEADER} is still being processed; retry in a moment "
                "to get its answer.",
                code="request_in_flight",
                headers={"Retry-After": "2"},
            )
        return KeyClaim(found.id)


def complete(session: Session, owned: KeyClaim, *, status: int, body: dict[str, Any]) -> None:
    """Store the answer; call inside the transaction that does the work."""
    session.execute(
        update(LabRequest)
        .where(LabRequest.id == owned.request_id)
        .values(status="done", response_status=status, response=body)
    )


def release(session: Session, owned: KeyClaim) -> None:
    """Give the key back after a failure, so the same request can be retried."""
    if session.in_transaction():
        session.rollback()
    with session.begin():
        session.execute(
            delete(LabRequest).where(
                LabRequest.id == owned.request_id, LabRequest.status == "in_flight"
            )
        )


def _take_over(session: Session, found: LabRequest, now: datetime) -> bool:
    """Claim an abandoned ``in_flight`` row; only one of several retries wins it."""
    taken = session.execute(
        update(LabRequest)
        .where(
            LabRequest.id == found.id,
            LabRequest.status == "in_flight",
            LabRequest.created_at == found.created_at,
        )
        .values(created_at=now)
        .execution_options(synchronize_session=False)
    )
    return isinstance(taken, CursorResult) and taken.rowcount == 1
