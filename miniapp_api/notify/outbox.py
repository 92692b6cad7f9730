"""Enqueueing push messages into the transactional outbox (the worker that sends them is apart).

Rows are written by the caller's transaction, together with the results they announce: a
result is never committed without its messages, nor a message without its result. One
``INSERT ... SELECT`` writes the messages of a whole batch of tubes: the payload is built by
the database, so ingesting 10,000 person results sends no row data back and forth.

A result message goes to every account holding the resident (self or as a dependent), with
``dedupe_key`` ``result:<person result id>:<account id>:<version>`` (version 0 for the first
result, n after the n-th amendment: an amendment notifies again) and the payload::

    {"kind": "result", "platform", "recipient" (the account's platform subject),
     "resident_id" (public), "resident_name_masked", "state", "tested_at" (ISO 8601, UTC),
     "tube_no", "round", "site", "version"}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, cast, func, insert, literal, select
from sqlalchemy.orm import Session

from miniapp_api.auth.models import Account
from miniapp_api.notify.models import OutboxMessage
from miniapp_api.residents.models import AccountResident, Resident
from miniapp_api.results.models import PersonResult
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube


def result_dedupe_key(person_result_id: int, account_id: int, version: int) -> str:
    """One message per (result event, account)."""
    return f"result:{person_result_id}:{account_id}:{version}"


def enqueue_results(session: Session, tube_ids: Sequence[int], version: int, now: datetime) -> None:
    """Add a ``pending`` message per (person result of ``tube_ids``, account holding them)."""
    if not tube_ids:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    payload = (func.json_build_object if postgres else func.json_object)(
        *_pairs(
            kind=literal("result"),
            platform=Account.platform,
            recipient=Account.subject,
            resident_id=Resident.public_id,
            resident_name_masked=Resident.name_masked,
            state=PersonResult.state,
            tested_at=_iso_utc(PersonResult.tested_at, postgres),
            tube_no=Tube.tube_no,
            round=ScreeningRound.name,
            site=Site.name,
            version=literal(version, Integer),
        )
    )
    dedupe_key = (
        literal("result:")
        + cast(PersonResult.id, String)
        + literal(":")
        + cast(Account.id, String)
        + literal(f":{version}")
    )
    stamp = literal(now, DateTime(timezone=True))
    # Driven from the samplings of the tubes (indexed by tube, analysed long before ingest):
    # person_results grows during a morning of ingest and its statistics lag behind.
    source = (
        select(
            dedupe_key,
            PersonResult.id,
            Account.id,
            literal("pending"),
            payload,
            literal(0, Integer),
            stamp,
            stamp,
        )
        .select_from(Sampling)
        .join(PersonResult, PersonResult.sampling_id == Sampling.id)
        .join(AccountResident, AccountResident.resident_id == Sampling.resident_id)
        .join(Account, Account.id == AccountResident.account_id)
        .join(Resident, Resident.id == Sampling.resident_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .join(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .join(Site, Site.id == Sampling.site_id)
        .where(Sampling.tube_id.in_(tube_ids))
    )
    columns = [
        "dedupe_key",
        "person_result_id",
        "account_id",
        "status",
        "payload",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    session.execute(insert(OutboxMessage).from_select(columns, source))


def _pairs(**fields: Any) -> list[Any]:
    """``key1, value1, key2, value2, ...`` as the JSON object builders take them."""
    return [part for key, value in fields.items() for part in (literal(key), value)]


def _iso_utc(column: Any, postgres: bool) -> Any:
    """``2022-03-16T02:30:00+00:00``, the same text on both databases."""
    if postgres:
        utc = func.timezone("UTC", column)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    return func.strftime("%Y-%m-%dT%H:%M:%S+00:00", column)
