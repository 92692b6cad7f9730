"""Rows for tests, one factory per kind: labs, sites, rounds, staff, desks, residents (and their
registration codes), accounts, tubes, person results, lab requests, and the push worker's
outbox rows.

Each ``make_*`` takes the app, commits its rows and returns them (still usable: the app's
sessions do not expire on commit). Rows are made directly through the models, as the features
would leave them; the private ``_add_*`` builders behind them take a session and only flush, so
that :func:`queue_message` can compose them on the push worker's database, which may be a bare
SQLite one without an app.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.service import CODE_ID_BYTES
from miniapp_api.codes.tokens import CodeClaims, sign_code
from miniapp_api.db import Database, utcnow
from miniapp_api.lab import idempotency
from miniapp_api.lab.models import LabRequest
from miniapp_api.notify.models import Subscription
from miniapp_api.readmodel import ResultEntry
from miniapp_api.residents.identity import IdType, parse_id
from miniapp_api.residents.models import Account, AccountResident, Relation, Resident
from miniapp_api.residents.records import new_resident, set_phone
from miniapp_api.results.models import OutboxMessage, PersonResult
from miniapp_api.sampling.models import Lab, Sampling, ScreeningRound, Site, Staff, Tube
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.sampling.staff import hash_password
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.wiring import wiring_of
from tests.support.ids import cn_id
from tests.support.sensitive import TOKENS, remember

STAFF_PASSWORD = "swab-and-scan-2022"
WECHAT_TEMPLATE = "tpl-wx-result-0001"
ALIPAY_TEMPLATE = "tpl-ali-result-0001"
# Where and when every person result of make_person_result and queue_message was sampled.
ROUND_NAME = "2022-03-16 浦东"
SITE_NAME = "浦东 1 号点"
TESTED_AT = datetime(2022, 3, 16, 7, 1, tzinfo=UTC)  # 15:01 in Beijing

_SEQ = itertools.count(1)


# --- the app's database -----------------------------------------------------------------------


def new_session(app: Flask) -> Session:
    """A session of the app's database (``with new_session(app) as session:`` to read)."""
    return wiring_of(app).db.sessions()


@contextmanager
def committed(app: Flask) -> Iterator[Session]:
    """A session of the app's database whose work is committed at the end of the block."""
    with wiring_of(app).db.session() as session, session.begin():
        yield session


def ago(*, hours: float = 0, minutes: float = 0) -> datetime:
    """That long before now (UTC)."""
    return datetime.now(UTC) - timedelta(hours=hours, minutes=minutes)


# --- labs, sites, rounds, staff, desks ----------------------------------------------------------


@dataclass(frozen=True)
class LabKey:
    """A lab as its upload client knows it: row id, ``X-Lab-Id`` and plaintext secret."""

    id: int
    lab_id: str
    secret: str = field(repr=False)


def make_lab(app: Flask) -> LabKey:
    """A lab with its upload secret (stored encrypted, as ``miniapp labs create`` does)."""
    secret = secrets.token_urlsafe(32)
    remember(secret)  # never in a response or a log line (tests/test_no_leaks.py)
    lab_id = f"lab_t{next(_SEQ):04d}{secrets.token_hex(3)}"
    with committed(app) as session:
        lab = Lab(
            lab_id=lab_id,
            name=f"Lab {lab_id}",
            secret_enc=wiring_of(app).crypto.encrypt(LAB_SECRET_PURPOSE, secret),
        )
        session.add(lab)
        session.flush()
        return LabKey(lab.id, lab_id, secret)


def make_site(app: Flask, name: str | None = None, lab: LabKey | None = None) -> Site:
    """A site, sending its tubes to ``lab``."""
    with committed(app) as session:
        return _add_site(session, name, lab.id if lab else None)


def _add_site(session: Session, name: str | None = None, lab_id: int | None = None) -> Site:
    site = Site(name=name or f"Site {next(_SEQ)}", lab_id=lab_id)
    session.add(site)
    session.flush()
    return site


def make_round(app: Flask, *, closed: bool = False) -> ScreeningRound:
    """An open round (one at a time: close the previous one first), or an already closed one."""
    with committed(app) as session:
        return _add_round(session, closed=closed)


def _add_round(session: Session, name: str | None = None, *, closed: bool) -> ScreeningRound:
    now = datetime.now(UTC)
    screening_round = ScreeningRound(
        name=name or f"2022-03-16 Pudong #{next(_SEQ)}",
        opened_at=now - timedelta(hours=2),
        closed_at=now if closed else None,
    )
    session.add(screening_round)
    session.flush()
    return screening_round


def make_staff(
    app: Flask, site: Site, username: str | None = None, *, active: bool = True
) -> Staff:
    """A staff member of ``site`` whose password is ``STAFF_PASSWORD``."""
    with committed(app) as session:
        return _add_staff(session, site.id, username, active=active)


@functools.cache
def _password_hash() -> str:
    """Argon2 is slow on purpose; one hash is enough for tests."""
    remember(STAFF_PASSWORD)
    return hash_password(STAFF_PASSWORD)


def _add_staff(
    session: Session, site_id: int, username: str | None = None, *, active: bool = True
) -> Staff:
    staff = Staff(
        username=username or f"staff{next(_SEQ)}",
        password_hash=_password_hash(),
        site_id=site_id,
        active=active,
    )
    session.add(staff)
    session.flush()
    return staff


@dataclass(frozen=True)
class Desk:
    """Where samplings happen: a round, a site (sending to a lab) and a staff member."""

    round_id: int
    round_name: str
    site_id: int
    site_name: str
    staff_id: int
    lab: LabKey


def make_desk(app: Flask, lab: LabKey) -> Desk:
    """A closed round (lab uploads need no open one) and a site sending to ``lab``, staffed."""
    with committed(app) as session:
        screening_round = _add_round(session, closed=True)
        site = _add_site(session, lab_id=lab.id)
        staff = _add_staff(session, site.id)
        return Desk(screening_round.id, screening_round.name, site.id, site.name, staff.id, lab)


# --- residents, their registration codes, accounts -----------------------------------------------


def make_resident(
    app: Flask, name: str = "张三", id_number: str | None = None, *, phone: str | None = None
) -> Resident:
    """A resident row (no account): a self or a dependent alike, as far as results go."""
    crypto = wiring_of(app).crypto
    with committed(app) as session:
        resident = _add_resident(session, crypto, name, id_number)
        if phone is not None:
            remember(phone)
            set_phone(resident, crypto, phone)
        return resident


def make_residents(app: Flask, count: int) -> list[Resident]:
    """``count`` residents, each with another name and ID number."""
    crypto = wiring_of(app).crypto
    with committed(app) as session:
        return [_add_resident(session, crypto, f"Person {next(_SEQ)}") for _ in range(count)]


def _add_resident(
    session: Session, crypto: PersonalDataCrypto, name: str, id_number: str | None = None
) -> Resident:
    resident = new_resident(crypto, parse_id(IdType.CN_ID, id_number or cn_id()), name)
    session.add(resident)
    session.flush()
    return resident


def issue_code(app: Flask, resident: Resident, *, expires_at: datetime | None = None) -> str:
    """A registration code token for ``resident``; its row is the live code (older ones are
    revoked now, as re-issuing does)."""
    key = wiring_of(app).settings.codes.signing_key
    now = datetime.now(UTC)
    # Whole seconds, as codes/service.py issues them: the token's exp is in seconds.
    expires = (expires_at or now + timedelta(days=30)).replace(microsecond=0)
    code_id = secrets.token_urlsafe(CODE_ID_BYTES)
    with committed(app) as session:
        session.execute(
            update(RegistrationCode)
            .where(
                RegistrationCode.resident_id == resident.id,
                RegistrationCode.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        session.add(
            RegistrationCode(
                code_id=code_id,
                resident_id=resident.id,
                kid=key.kid,
                issued_at=now,
                expires_at=expires,
            )
        )
    token = sign_code(key, code_claims(resident, code_id, expires))
    TOKENS.add(token)  # never in a log line (tests/test_no_leaks.py)
    return token


def unissued_code(app: Flask, resident: Resident) -> str:
    """A genuine signature over a code id we never issued."""
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    claims = code_claims(resident, secrets.token_urlsafe(CODE_ID_BYTES), expires)
    token = sign_code(wiring_of(app).settings.codes.signing_key, claims)
    TOKENS.add(token)
    return token


def code_claims(resident: Resident, code_id: str, expires_at: datetime) -> CodeClaims:
    """What a registration code says about ``resident``."""
    return CodeClaims(code_id=code_id, name_masked=resident.name_masked, expires_at=expires_at)


@dataclass(frozen=True)
class Person:
    """A resident with a live registration code (the token, as the QR symbol holds it)."""

    resident: Resident
    id_number: str
    token: str

    @property
    def last4(self) -> str:
        return self.id_number[-4:]

    @property
    def wrong_last4(self) -> str:
        """Another ending: the same but for the first character."""
        first = "1" if self.last4[0] != "1" else "2"
        return first + self.last4[1:]

    @property
    def wrong_id_number(self) -> str:
        """Another number with the same first 3 and last 4 characters (what the masked ID
        shows): one birth-date digit differs, as a stranger's guess would."""
        year_digit = self.id_number[9]
        other = "1" if year_digit != "1" else "2"
        return self.id_number[:9] + other + self.id_number[10:]


def make_person(
    app: Flask,
    name: str = "欧阳娜娜",
    id_number: str | None = None,
    *,
    phone: str | None = None,
    expires_at: datetime | None = None,
) -> Person:
    """A resident with a registration code (expiring at ``expires_at``)."""
    number = id_number or cn_id()
    resident = make_resident(app, name, number, phone=phone)
    return Person(resident, number, issue_code(app, resident, expires_at=expires_at))


def _new_subject(platform: str) -> str:
    """A fresh openid (WeChat) or user_id (Alipay) of the real shape."""
    if platform == "wechat":
        return "o" + secrets.token_urlsafe(20)[:27]
    return "2088" + str(secrets.randbelow(10**12)).zfill(12)


def make_account(
    app: Flask,
    holds: Sequence[tuple[Resident, Relation]] = (),
    *,
    platform: str = "wechat",
    app_id: str = "wxtest",
    subscribed: Mapping[str, int] | None = None,
) -> Account:
    """A platform login holding residents (self and/or dependents), with ``subscribed``
    acceptances left per message template."""
    with committed(app) as session:
        return _add_account(session, platform, app_id, holds=holds, subscribed=subscribed or {})


def _add_account(
    session: Session,
    platform: str,
    app_id: str,
    *,
    holds: Sequence[tuple[Resident, Relation]] = (),
    subscribed: Mapping[str, int],
) -> Account:
    account = Account(platform=platform, app_id=app_id, subject=_new_subject(platform))
    session.add(account)
    session.flush()
    for resident, relation in holds:
        session.add(
            AccountResident(account_id=account.id, resident_id=resident.id, relation=relation)
        )
    for template_id, remaining in subscribed.items():
        session.add(
            Subscription(account_id=account.id, template_id=template_id, remaining=remaining)
        )
    session.flush()
    return account


def bearer(app: Flask, account: Account) -> dict[str, str]:
    """Headers with a session of ``account``, as if it had logged in."""
    token = wiring_of(app).sessions.create(account.public_id, account.platform)
    TOKENS.add(token)
    return {"Authorization": f"Bearer {token}"}


# --- tubes, results, lab requests ----------------------------------------------------------------


def make_tube(
    app: Flask,
    desk: Desk,
    people: Sequence[Resident],
    *,
    capacity: int = 10,
    closed: bool = True,
    scanned_at: datetime | None = None,
) -> str:
    """A tube with ``people`` sampled into it (three hours ago unless ``scanned_at``); their
    pending read-model entries are recorded too, as the sampling feature does. Its number."""
    at = scanned_at or ago(hours=3)
    tube_no = new_tube_no()
    with committed(app) as session:
        _add_tube(
            session,
            tube_no,
            round_id=desk.round_id,
            site_id=desk.site_id,
            lab_id=desk.lab.id,
            staff_id=desk.staff_id,
            people=people,
            capacity=capacity,
            scanned_at=at,
            closed=closed,
        )
    entry = ResultEntry(tube_no, desk.round_name, desk.site_name, at, state="pending")
    wiring_of(app).readmodel.record((p.public_id, entry) for p in people)
    return tube_no


_BORN = datetime(1950, 1, 1, tzinfo=UTC)


def new_tube_no() -> str:
    """A tube number no other test uses."""
    return f"T{next(_SEQ):06d}{secrets.token_hex(2).upper()}"


def make_tubes(app: Flask, desk: Desk, count: int) -> list[str]:
    """``count`` closed tubes, one new resident sampled into each three hours ago, in one
    transaction (for uploads of many tubes); their numbers."""
    at = ago(hours=3)
    crypto = wiring_of(app).crypto
    numbers = [new_tube_no() for _ in range(count)]
    entries = []
    with committed(app) as session:
        for tube_no in numbers:
            # A birth date of its own: cn_id() alone repeats after 1,000 people.
            born = (_BORN + timedelta(days=next(_SEQ))).strftime("%Y%m%d")
            person = _add_resident(session, crypto, f"Person {next(_SEQ)}", cn_id(born))
            _add_tube(
                session,
                tube_no,
                round_id=desk.round_id,
                site_id=desk.site_id,
                lab_id=desk.lab.id,
                staff_id=desk.staff_id,
                people=[person],
                capacity=1,
                scanned_at=at,
                closed=True,
            )
            entry = ResultEntry(tube_no, desk.round_name, desk.site_name, at, state="pending")
            entries.append((person.public_id, entry))
    wiring_of(app).readmodel.record(entries)
    return numbers


def _add_tube(
    session: Session,
    tube_no: str,
    *,
    round_id: int,
    site_id: int,
    lab_id: int | None,
    staff_id: int,
    people: Sequence[Resident],
    capacity: int,
    scanned_at: datetime,
    closed: bool,
) -> list[Sampling]:
    tube = Tube(
        tube_no=tube_no,
        round_id=round_id,
        site_id=site_id,
        lab_id=lab_id,
        capacity=capacity,
        bound_count=len(people),
        opened_at=scanned_at,
        closed_at=scanned_at + timedelta(minutes=5) if closed else None,
    )
    session.add(tube)
    session.flush()
    samplings = [
        Sampling(
            round_id=round_id,
            resident_id=person.id,
            tube_id=tube.id,
            site_id=site_id,
            staff_id=staff_id,
            code_id=secrets.token_urlsafe(CODE_ID_BYTES),
            scanned_at=scanned_at,
        )
        for person in people
    ]
    session.add_all(samplings)
    session.flush()
    return samplings


def make_person_result(app: Flask, resident: Resident, *, state: str) -> PersonResult:
    """``resident`` sampled alone into a fresh tube (``T<8 hex>``) of the round ``ROUND_NAME``
    at ``SITE_NAME``, with a result tested at ``TESTED_AT``, as the fan-out leaves it."""
    with committed(app) as session:
        return _add_person_result(session, resident, state=state)


def _add_person_result(session: Session, resident: Resident, *, state: str) -> PersonResult:
    # Closed: only one round may be open, and these rows only need a round to belong to.
    round_ = session.scalars(
        select(ScreeningRound).where(ScreeningRound.name == ROUND_NAME)
    ).first() or _add_round(session, ROUND_NAME, closed=True)
    site = session.scalars(select(Site).where(Site.name == SITE_NAME)).first() or _add_site(
        session, SITE_NAME
    )
    [sampling] = _add_tube(
        session,
        f"T{secrets.token_hex(4)}",
        round_id=round_.id,
        site_id=site.id,
        lab_id=None,
        staff_id=_add_staff(session, site.id).id,
        people=[resident],
        capacity=1,
        scanned_at=utcnow(),
        closed=False,
    )
    result = PersonResult(
        sampling_id=sampling.id,
        resident_id=resident.id,
        tube_id=sampling.tube_id,
        state=state,
        tested_at=TESTED_AT,
    )
    session.add(result)
    session.flush()
    return result


def make_lab_request(
    app: Flask, lab: LabKey, body: bytes, *, key: str, created_at: datetime
) -> None:
    """An upload of ``body`` by ``lab`` under the idempotency ``key``, in flight since
    ``created_at``."""
    fingerprint = idempotency.fingerprint("POST", "/api/v1/lab/results", body)
    with committed(app) as session:
        session.add(
            LabRequest(
                lab_id=lab.id,
                idempotency_key=key,
                body_sha256=fingerprint,
                status="in_flight",
                created_at=created_at,
            )
        )


# --- the push worker's rows -------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    """An outbox row and who it is for."""

    outbox_id: int
    account_id: int
    platform: str
    subject: str
    tube_no: str


def template_for(platform: str) -> str:
    """The result template the push tests configure for ``platform``."""
    return WECHAT_TEMPLATE if platform == "wechat" else ALIPAY_TEMPLATE


# The worker never reads a resident's encrypted fields: any key will do, even without an app.
_WORKER_CRYPTO = PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))


def queue_message(
    db: Database,
    platform: str,
    app_id: str,
    *,
    accepts: int = 1,
    account_id: int | None = None,
    state: str = "negative",
) -> Queued:
    """One due outbox row for a person result of ``state`` (resident 张三), to a new account
    holding ``accepts`` acceptances of the platform's template, or to the account ``account_id``.
    """
    template = template_for(platform)
    with db.session() as session, session.begin():
        if account_id is None:
            subscribed = {template: accepts} if accepts else {}
            account = _add_account(session, platform, app_id, subscribed=subscribed)
        else:
            account = session.get_one(Account, account_id)
        resident = _add_resident(session, _WORKER_CRYPTO, "张三")
        result = _add_person_result(session, resident, state=state)
        row = OutboxMessage(
            person_result_id=result.id,
            account_id=account.id,
            version=0,
            status="pending",
            attempts=0,
            next_attempt_at=utcnow() - timedelta(seconds=1),
        )
        session.add(row)
        session.flush()
        tube_no = session.scalars(select(Tube.tube_no).where(Tube.id == result.tube_id)).one()
        return Queued(row.id, account.id, account.platform, account.subject, tube_no)
