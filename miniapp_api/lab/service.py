"""Lab use cases: upload a batch of tube results, amend a final result.

Both run in one transaction that stores the tube results, the person results, the outbox rows
(the result pipeline, ``results/pipeline.py``) and the idempotent answer together; the Redis
read model is updated after the commit (the database is the system of record;
``miniapp readmodel rebuild`` repairs a missed update).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from miniapp_api.errors import ApiError
from miniapp_api.lab import idempotency
from miniapp_api.lab.amend import amend
from miniapp_api.lab.ingest import ingest
from miniapp_api.lab.schemas import AmendIn, ResultBatchIn
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.results import pipeline
from miniapp_api.sampling.models import Lab
from miniapp_api.settings import LabSettings


class BatchTooLarge(ApiError):
    status, code = 413, "batch_too_large"


@dataclass(frozen=True)
class Answer:
    """What the view returns: status and body, and whether it is a stored first answer."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class IdempotentRequest:
    key: str | None
    fingerprint: str


def upload_results(
    session: Session,
    lab: Lab,
    *,
    batch: ResultBatchIn,
    request: IdempotentRequest,
    readmodel: ResultReadModel,
    settings: LabSettings,
    now: datetime,
) -> Answer:
    """Store a batch of tube results; each item gets its own status (``ItemOut``)."""
    if len(batch.results) > settings.max_batch:
        raise BatchTooLarge(
            f"At most {settings.max_batch} results per request; split the batch.",
            detail={"max_batch": settings.max_batch, "received": len(batch.results)},
        )
    with _idempotent(session, lab, request, now) as owned:
        if isinstance(owned, idempotency.StoredAnswer):
            return Answer(owned.status, owned.body, replayed=True)
        with session.begin():
            if owned is not None:
                idempotency.hold(session, owned)
            body, fanned = ingest(session, lab, items=batch.results, settings=settings, now=now)
            if owned is not None:
                idempotency.complete(session, owned, status=200, body=body)
    pipeline.publish(readmodel, fanned)
    return Answer(200, body)


def amend_result(
    session: Session,
    lab: Lab,
    *,
    tube_no: str,
    change: AmendIn,
    request: IdempotentRequest,
    readmodel: ResultReadModel,
    settings: LabSettings,
    now: datetime,
) -> Answer:
    """Correct a final result, keeping the replaced one in the history; notifies again."""
    with _idempotent(session, lab, request, now) as owned:
        if isinstance(owned, idempotency.StoredAnswer):
            return Answer(owned.status, owned.body, replayed=True)
        with session.begin():
            if owned is not None:
                idempotency.hold(session, owned)
            body, fanned = amend(
                session, lab, tube_no=tube_no, change=change, settings=settings, now=now
            )
            if owned is not None:
                idempotency.complete(session, owned, status=200, body=body)
    pipeline.publish(readmodel, fanned)
    return Answer(200, body)


@contextmanager
def _idempotent(
    session: Session, lab: Lab, request: IdempotentRequest, now: datetime
) -> Iterator[idempotency.KeyClaim | idempotency.StoredAnswer | None]:
    """Claim the key (if any) for the block; release it if the block fails. The block holds
    the claim (``idempotency.hold``) first in the transaction that does the work."""
    if request.key is None:
        yield None
        return
    owned = idempotency.claim(
        session, lab.id, key=request.key, request_fingerprint=request.fingerprint, now=now
    )
    try:
        yield owned
    except BaseException:
        if isinstance(owned, idempotency.KeyClaim):
            idempotency.release(session, owned)
        raise
