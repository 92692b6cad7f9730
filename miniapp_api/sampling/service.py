"""Scanning: bind residents to tubes from their registration codes, safe to re-send.

Each item is its own short transaction, answered and committed with a receipt under
(staff, ``client_id``): a re-sent item gets the stored answer and binds nothing again, and a
batch cut off half way is simply sent again. Short transactions keep locks brief, and an item
takes its locks in one order (its tube, then its (round, resident) key, then its receipt), so
scans wait for each other without deadlocking; a whole batch in one transaction deadlocked
when two sites scanned the same people in opposite orders. Should the database still roll an
item back (deadlock, serialization failure), the item is simply tried again.

Concurrent requests meet at unique keys: the receipt, (round, resident) of a sampling, the tube
number. The loser of such a race waits for the winner's commit, rolls back and looks again,
finding the stored answer, the sampling (``duplicate``) or the tube. Tube capacity is kept exact
by a row lock and a conditional UPDATE (:mod:`.tubes`).

The Redis read model of results gets a ``pending`` entry for each newly bound resident after
the commits; if Redis fails there, the database is still right and the model is rebuildable.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from miniapp_api.audit import service as audit
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.tokens import ExpiredCodeToken, InvalidCodeToken, verify_code
from miniapp_api.db import as_utc
from miniapp_api.errors import Conflict
from miniapp_api.messages.language import DEFAULT, Language
from miniapp_api.messages.scans import scan_message
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.redis_client import READ_MODEL_FAILURES
from miniapp_api.residents.models import Resident
from miniapp_api.sampling.models import Sampling, ScanReceipt, Site
from miniapp_api.sampling.schemas import (
    DEFAULT_TUBE_CAPACITY,
    FirstScanOut,
    PersonOut,
    ScanAnswer,
    ScanItemIn,
    ScansOut,
    ScanStatus,
    TubeOut,
)
from miniapp_api.sampling.setup import current_round
from miniapp_api.sampling.staff import load_staff
from miniapp_api.sampling.tubes import TubeSpot, take_place, tube_out
from miniapp_api.settings import SamplingSettings, SigningKey

log = logging.getLogger(__name__)

# An item conflicts at most once per unique key it touches (tube number, sampling, receipt).
_ITEM_ATTEMPTS = 4
# Serialization failure and deadlock: rolled back whole, so safe to run again.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})

# The statements of every item, built once: SQLAlchemy caches their SQL, but building a
# statement and its cache key for each item costs more CPU than the round trip itself.
# One query for the code, its resident, and where the resident was sampled in this round:
_CODE_AND_FIRST_SAMPLING = (
    select(
        RegistrationCode.resident_id,
        RegistrationCode.revoked_at,
        Resident.public_id,
        Resident.id_masked,
        Resident.synthetic,
        Sampling.scanned_at,
        Site.name,
    )
    .join(Resident, Resident.id == RegistrationCode.resident_id)
    .outerjoin(
        Sampling,
        (Sampling.resident_id == RegistrationCode.resident_id)
        & (Sampling.round_id == bindparam("round_id")),
    )
    .outerjoin(Site, Site.id == Sampling.site_id)
    .where(RegistrationCode.code_id == bindparam("code_id"))
)
_INSERT_SAMPLING = insert(cast(Table, Sampling.__table__))
_INSERT_RECEIPT = insert(cast(Table, ScanReceipt.__table__))


@dataclass(frozen=True)
class _Desk:
    """What every item of a batch is scanned against (plain values: they outlive rollbacks)."""

    staff_id: int
    spot: TubeSpot
    site_name: str
    round_name: str
    keys: Sequence[SigningKey]
    now: datetime
    # Scans dated before this are stale: the round's opening or the window's start, the later.
    earliest_scan: datetime
    window_hours: int
    request_id: str  # the audit trail's (audit/service.py)


@dataclass(frozen=True)
class _Bound:
    """A resident bound by this request, for the read model once committed."""

    resident_id: str  # public id
    entry: ResultEntry


def record_scans(
    session: Session,
    staff_id: int,
    *,
    items: Sequence[ScanItemIn],
    keys: Sequence[SigningKey],
    readmodel: ResultReadModel,
    settings: SamplingSettings,
    now: datetime,
    request_id: str,
    language: Language = DEFAULT,
) -> ScansOut:
    """Answer every item, in order, its message in ``language``; each answer that shows a
    person is an audit event.

    409 ``no_open_round`` when items need a round and none is open; a batch answered before
    gets its stored answers whatever happened to the round since. An item dated before the
    round opened or more than ``settings.scan_window_hours`` ago is ``stale_scan``.
    """
    with session.begin():
        _, site = load_staff(session, staff_id)
        answered = _stored_answers(session, staff_id, {item.client_id for item in items})
        if all(item.client_id in answered for item in items):
            stored = [answered[item.client_id] for item in items]
            return _spoken(stored, language, settings.scan_window_hours)
        desk = _desk(
            session, site, keys, staff_id, settings=settings, now=now, request_id=request_id
        )
    answers: list[ScanAnswer] = []
    bound: list[_Bound] = []
    try:
        for item in items:
            answer = answered.get(item.client_id)
            if answer is None:
                answer, newly_bound = _scan_item(session, desk, item)
                answered[item.client_id] = answer
                if newly_bound is not None:
                    bound.append(newly_bound)
            answers.append(answer)
    finally:
        # Also when an item fails half way: what is committed so far shows as pending.
        _record_pending(readmodel, bound)
    return _spoken(answers, language, settings.scan_window_hours)


def _spoken(answers: Sequence[ScanAnswer], language: Language, hours: int) -> ScansOut:
    """The answers with their messages in ``language``. Said again for every answer, fresh or
    stored: a receipt keeps its answer in the language of the request that made it (or
    English, before there were two), and a re-send may ask for the other (microseconds per
    item, next to an item's transaction)."""
    return ScansOut(
        items=[
            answer.model_copy(update={"message": _message(answer, language, hours)})
            for answer in answers
        ]
    )


def _message(answer: ScanAnswer, language: Language, hours: int | None) -> str:
    """What ``answer`` says to the staff member (``hours``: the scan window, of a
    ``stale_scan``)."""
    values = {"tube_no": answer.tube_no, "hours": str(hours)}
    if answer.first_scan is not None:
        # Local (Beijing) time, as the process runs in it (miniapp_api/clock.py).
        local = answer.first_scan.scanned_at.astimezone()
        values |= {"site": answer.first_scan.site, "time": f"{local:%Y-%m-%d %H:%M}"}
    return scan_message(answer.status.value, language, **values)


def _desk(
    session: Session,
    site: Site,
    keys: Sequence[SigningKey],
    staff_id: int,
    *,
    settings: SamplingSettings,
    now: datetime,
    request_id: str,
) -> _Desk:
    screening_round = current_round(session)
    if screening_round is None:
        raise Conflict(
            "No screening round is open; keep the scans and send them again later.",
            code="no_open_round",
        )
    window_start = now - timedelta(hours=settings.scan_window_hours)
    return _Desk(
        staff_id=staff_id,
        spot=TubeSpot(round_id=screening_round.id, site_id=site.id, lab_id=site.lab_id),
        site_name=site.name,
        round_name=screening_round.name,
        keys=keys,
        now=now,
        earliest_scan=max(as_utc(screening_round.opened_at), window_start),
        window_hours=settings.scan_window_hours,
        request_id=request_id,
    )


def _stored_answers(
    session: Session, staff_id: int, client_ids: Collection[str]
) -> dict[str, ScanAnswer]:
    rows = session.execute(
        select(ScanReceipt.client_id, ScanReceipt.answer).where(
            ScanReceipt.staff_id == staff_id, ScanReceipt.client_id.in_(client_ids)
        )
    )
    return {client_id: ScanAnswer.model_validate(answer) for client_id, answer in rows}


def _scan_item(session: Session, desk: _Desk, item: ScanItemIn) -> tuple[ScanAnswer, _Bound | None]:
    """Decide, bind and keep the receipt in one transaction; on a lost race, look again."""
    # The device clock says when the scan happened, but not later than we received it.
    at = min(as_utc(item.scanned_at), desk.now)
    for _ in range(_ITEM_ATTEMPTS):
        try:
            with session.begin():
                answer, bound, shown = _decide(session, desk, item, at)
                # A unique key taken by a concurrent scan fails right here.
                session.execute(
                    _INSERT_RECEIPT,
                    {
                        "staff_id": desk.staff_id,
                        "client_id": item.client_id,
                        "status": answer.status.value,
                        "answer": answer.model_dump(mode="json"),
                        "created_at": desk.now,
                    },
                )
                if shown is not None:
                    # Last: the trail's lock is held from here to the commit, after every
                    # other lock the item takes (audit/service.py).
                    audit.record(
                        session,
                        actor_kind=audit.ActorKind.STAFF,
                        actor=str(desk.staff_id),
                        action=f"scan.{answer.status.value}",
                        object=f"resident:{shown} tube:{item.tube_no}",
                        request_id=desk.request_id,
                        at=desk.now,
                    )
            return answer, bound
        except IntegrityError:
            # Someone committed first: this very item re-sent, the same person scanned
            # elsewhere, or the same new tube opened. Their outcome is visible now.
            log.debug("scan item lost a race to a concurrent scan; looking again")
            with session.begin():
                stored = _stored_answers(session, desk.staff_id, [item.client_id])
            if item.client_id in stored:
                return stored[item.client_id], None
        except OperationalError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if state not in _TRANSIENT_SQLSTATES:
                raise
            log.warning("scan item rolled back (sqlstate %s); trying again", state)
    raise RuntimeError("a scan item kept conflicting with concurrent scans")


def _decide(
    session: Session, desk: _Desk, item: ScanItemIn, at: datetime
) -> tuple[ScanAnswer, _Bound | None, str | None]:
    """The answer, the resident it binds, and the public id of the resident it shows."""
    if at < desk.earliest_scan:
        # Before anything else: a code is judged at the scan's time, so a false old time would
        # find a code revoked or expired since still good. Nothing about the code is shown.
        return _answer(item, ScanStatus.STALE_SCAN, window_hours=desk.window_hours), None, None
    try:
        claims = verify_code(item.code, desk.keys, at)
    except ExpiredCodeToken:
        return _answer(item, ScanStatus.EXPIRED), None, None
    except InvalidCodeToken:
        return _answer(item, ScanStatus.INVALID), None, None
    found = session.execute(
        _CODE_AND_FIRST_SAMPLING, {"code_id": claims.code_id, "round_id": desk.spot.round_id}
    ).one_or_none()
    if found is None:  # signed by us, but not a code we know (or its resident was deleted)
        return _answer(item, ScanStatus.INVALID), None, None
    (
        resident_id,
        revoked_at,
        resident_public_id,
        id_masked,
        synthetic,
        first_scanned_at,
        first_site,
    ) = found
    if synthetic:  # a reviewer's sandbox person (miniapp_api/review): never sampled for real
        return _answer(item, ScanStatus.INVALID), None, None
    # Until this scan binds the person, the answer shows only what the code itself shows: any
    # staff account could otherwise read the ID ending off any code without sampling anyone.
    person = PersonOut(name_masked=claims.name_masked)
    # Judged at scan time: a code scanned offline before it was re-issued still counts.
    if revoked_at is not None and as_utc(revoked_at) <= at:
        return _answer(item, ScanStatus.REVOKED, person=person), None, resident_public_id
    if first_scanned_at is not None:
        first = FirstScanOut(site=first_site, scanned_at=as_utc(first_scanned_at))
        answer = _answer(item, ScanStatus.DUPLICATE, person=person, first_scan=first)
        return answer, None, resident_public_id

    capacity = item.capacity or DEFAULT_TUBE_CAPACITY
    status, tube = take_place(
        session, item.tube_no, spot=desk.spot, capacity=capacity, now=desk.now
    )
    if status is not ScanStatus.BOUND or tube is None:
        # An unavailable tube goes without details: another site's number looks like any other.
        answer = _answer(item, status, person=person, tube=tube_out(tube) if tube else None)
        return answer, None, resident_public_id
    session.execute(
        _INSERT_SAMPLING,
        {
            "round_id": desk.spot.round_id,
            "resident_id": resident_id,
            "tube_id": tube.id,
            "site_id": desk.spot.site_id,
            "staff_id": desk.staff_id,
            "code_id": claims.code_id,
            "scanned_at": at,
            "created_at": desk.now,
        },
    )
    entry = ResultEntry(tube.tube_no, desk.round_name, desk.site_name, at, state="pending")
    # Bound: the staff compare the ending with the ID card of the person they just sampled.
    bound_person = PersonOut(name_masked=claims.name_masked, id_last4=id_masked[-4:])
    answer = _answer(item, ScanStatus.BOUND, person=bound_person, tube=tube_out(tube))
    return answer, _Bound(resident_public_id, entry), resident_public_id


def _answer(
    item: ScanItemIn,
    status: ScanStatus,
    *,
    person: PersonOut | None = None,
    tube: TubeOut | None = None,
    first_scan: FirstScanOut | None = None,
    window_hours: int | None = None,
) -> ScanAnswer:
    """The answer to ``item``, its message in the default language (as its receipt keeps
    it; :func:`_spoken` says it in the caller's)."""
    answer = ScanAnswer(
        client_id=item.client_id,
        status=status,
        message="",
        tube_no=item.tube_no,
        person=person,
        tube=tube,
        first_scan=first_scan,
    )
    answer.message = _message(answer, DEFAULT, window_hours)
    return answer


def _record_pending(readmodel: ResultReadModel, bound: Sequence[_Bound]) -> None:
    if not bound:
        return
    try:
        readmodel.record((b.resident_id, b.entry) for b in bound)
    except READ_MODEL_FAILURES as exc:
        # The samplings are committed; `miniapp readmodel rebuild` restores the model.
        log.warning(
            "results read model not updated for %d newly sampled residents (%s)",
            len(bound),
            type(exc).__name__,
        )
