"""The H5 lookup: registration code + the full ID number → that person's results.

It needs neither platform, so it needs no login; what stands in for one is possession of the
code and knowledge of the ID number, which no code screen shows (a screenshot of the code is
not enough), and the hard limits of :mod:`.limits` bound guessing.

Order, cheapest first: verify the token offline (signature, key id, expiry; no I/O), charge the
attempt to the limits and read the code's failure count (one Redis round trip; every attempt
counts, answered or not), then one read-only query for the code's row and its resident, then
the results read model in Redis. Nothing is written to the database; a failure of a genuine
code costs one more Redis round trip (the count).

An unknown code, a revoked (re-issued) code, a token that is not ours and a wrong ID number all
get the same :class:`~miniapp_api.errors.NotFound`, so the answer cannot be used as an oracle.
An expired code says so: its expiry is printed in the token for anyone to read. A code that
reached :data:`~.limits.LIFETIME_FAILURES` answers :class:`LookupLocked` until it is re-issued.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.tokens import CodeClaims, ExpiredCodeToken, InvalidCodeToken, verify_code
from miniapp_api.errors import ApiError, NotFound
from miniapp_api.lookup import limits
from miniapp_api.lookup.schemas import LookupIn, LookupOut
from miniapp_api.messages.language import DEFAULT, Language
from miniapp_api.messages.lookup import NO_MATCH
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.models import Resident
from miniapp_api.residents.records import ID_PURPOSE
from miniapp_api.results.service import read_results, result_out
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import CodeSettings, ResultSettings

log = logging.getLogger(__name__)

HISTORY_LIMIT = 5
LOCKED = (
    "Too many wrong ID numbers were tried with this registration code, so it no longer works "
    "on this page. The WeChat or Alipay mini-program shows your results; a new code from it "
    "works here again."
)
# Compared against when there is nothing to compare with, so every path does the same work.
_NOTHING = ""

_CODE_AND_RESIDENT = (
    select(
        RegistrationCode.revoked_at,
        Resident.public_id,
        Resident.name_masked,
        Resident.id_enc,
    )
    .join(Resident, Resident.id == RegistrationCode.resident_id)
    .where(RegistrationCode.code_id == bindparam("code_id"))
)


class CodeExpired(ApiError):
    status, code = 410, "code_expired"


class LookupLocked(ApiError):
    """The code reached its lifetime cap of failed lookups; re-issuing it gives a new count."""

    status, code = 423, "lookup_locked"


@dataclass(frozen=True)
class Person:
    public_id: str
    name_masked: str


def look_up(
    session: Session,
    attempt: LookupIn,
    *,
    address: str,
    client: redis.Redis,
    readmodel: ResultReadModel,
    crypto: PersonalDataCrypto,
    codes: CodeSettings,
    results: ResultSettings,
    now: datetime,
    language: Language = DEFAULT,
) -> LookupOut:
    """The results of the person the code belongs to, if the ID number matches (guidance in
    ``language``).

    Raises :class:`Rejected` (a hard limit: 429 with the overload contract),
    :class:`CodeExpired`, :class:`LookupLocked` or ``NotFound``; Redis connection errors
    propagate (the app answers 503: this path fails closed).
    """
    claims: CodeClaims | None = None
    expired = False
    try:
        claims = verify_code(attempt.code, codes.keys, now)
    except ExpiredCodeToken:
        expired = True
    except InvalidCodeToken:
        pass  # answered like an unknown code, after the attempt is counted
    charged = limits.charge(client, code_id=claims.code_id if claims else None, address=address)
    if charged.refusal is not None:
        extra = {"limit": charged.refusal.limit}
        raise Rejected(Rejection(429, "user_quota", charged.refusal.retry_after, extra))
    if expired:
        raise CodeExpired(
            "This registration code has expired. Open the WeChat or Alipay mini-program to "
            "get a new one; your results are kept."
        )
    if charged.locked:
        # Only genuine codes have a count, and only failures of a live one raise it.
        raise LookupLocked(LOCKED)
    person, live = _matching_person(session, crypto, claims, attempt.id_number)
    if person is None:
        if claims is not None:
            limits.record_failure(
                client, code_id=claims.code_id, expires_at=claims.expires_at, counts=live
            )
        raise NotFound(NO_MATCH)
    return _results_of(readmodel, results, person, now, language)


def _matching_person(
    session: Session, crypto: PersonalDataCrypto, claims: CodeClaims | None, id_number: str
) -> tuple[Person | None, bool]:
    """The code's resident if the code is live and the ID number matches, and whether the code
    is live; read-only."""
    row = None
    if claims is not None:
        row = session.execute(_CODE_AND_RESIDENT, {"code_id": claims.code_id}).one_or_none()
        session.rollback()  # read-only; hand the connection back before the next Redis call
    expected = _NOTHING
    if row is not None:
        # Decrypted for this one resident, compared, and dropped; never logged or returned.
        expected = crypto.decrypt(ID_PURPOSE, row.id_enc)
    # Digests of both, so the comparison takes the same time whatever the lengths.
    matches = hmac.compare_digest(_digest(expected), _digest(id_number))
    live = row is not None and row.revoked_at is None
    if row is None or not live or not matches:
        return None, live
    return Person(row.public_id, row.name_masked), live


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _results_of(
    readmodel: ResultReadModel,
    settings: ResultSettings,
    person: Person,
    now: datetime,
    language: Language,
) -> LookupOut:
    entries = read_results(readmodel, [person.public_id]).get(person.public_id, [])
    overdue_after = timedelta(hours=settings.overdue_hours)
    shown = [result_out(e, now, overdue_after, language) for e in entries[: HISTORY_LIMIT + 1]]
    return LookupOut(
        name_masked=person.name_masked,
        latest=shown[0] if shown else None,
        history=shown[1:],
    )
