"""Enqueueing push messages into the transactional outbox (the worker that sends them is apart).

Rows are written by the caller's transaction, together with the results they announce: a
result is never committed without its messages, nor a message without its result. One
``INSERT ... SELECT`` writes the messages of a whole batch of person results.

A result message goes to every account holding the resident (self or as a dependent): one row
per (person result, account, version), version 0 for the first result and n after the n-th
amendment (an amendment notifies again). The row holds ids only; the worker builds the message
when it sends it (:mod:`miniapp_api.notify.payloads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert

from miniapp_api.notify.models import OutboxMessage
from miniapp_api.residents.models import AccountResident
from miniapp_api.results.models import PersonResult
from miniapp_api.sampling.models import Sampling

COLUMNS = (
    "person_result_id",
    "account_id",
    "version",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def insert_messages(results: Any, version: int, now: datetime) -> Insert:
    """The INSERT of a ``pending`` message per (person result in ``results``, account holding
    its resident); ``results`` is a selectable with the columns ``id`` and ``resident_id``
    (the person results' ``RETURNING`` in bulk ingest)."""
    stamp = literal(now, DateTime(timezone=True))
    source = select(
        results.c.id,
        AccountResident.account_id,
        literal(version, Integer),
        literal("pending"),
        literal(0, Integer),
        stamp,
        stamp,
    ).join(AccountResident, AccountResident.resident_id == results.c.resident_id)
    return insert(OutboxMessage).from_select(COLUMNS, source)


def enqueue_results(session: Session, tube_ids: Sequence[int], version: int, now: datetime) -> None:
    """Add a ``pending`` message per (person result of ``tube_ids``, account holding them)."""
    if not tube_ids:
        return
    results = (  # driven from the samplings, indexed by tube (person_results is not)
        select(PersonResult.id, PersonResult.resident_id)
        .join(Sampling, Sampling.id == PersonResult.sampling_id)
        .where(Sampling.tube_id.in_(tube_ids))
        .subquery()
    )
    session.execute(insert_messages(results, version, now))
