"""Rows of the screening world for tests: labs, sites, rounds, staff, residents, codes, tubes.

The ``make_*`` functions take a session, add and flush; commit with :func:`committed`::

    with committed(app) as session:
        site = make_site(session)
        make_staff(session, site, username="li.na")
        make_round(session)
        resident = make_resident(session, crypto_of(app))
        token = issue_code_for(session, resident, signing_key_of(app))

Rows stay usable after the block (the app's sessions do not expire on commit).
:class:`StaffClient` drives the staff endpoints through the Flask test client.
"""

from __future__ import annotations

import functools
import itertools
import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.service import CODE_ID_BYTES
from miniapp_api.codes.tokens import CodeClaims, sign_code
from miniapp_api.residents.identity import IdType, parse_id
from miniapp_api.residents.models import Resident
from miniapp_api.residents.records import new_resident
from miniapp_api.sampling.models import Lab, Sampling, ScreeningRound, Site, Staff, Tube
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.sampling.staff import hash_password
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import SigningKey
from miniapp_api.wiring import EXTENSION_KEY, Wiring
from tests.support.ids import cn_id
from tests.support.sensitive import TOKENS, remember

STAFF_PASSWORD = "swab-and-scan-2022"
_SEQ = itertools.count(1)


def _wiring(app: Flask) -> Wiring:
    wire = app.extensions[EXTENSION_KEY]
    assert isinstance(wire, Wiring)
    return wire


def crypto_of(app: Flask) -> PersonalDataCrypto:
    return _wiring(app).crypto


def signing_key_of(app: Flask) -> SigningKey:
    return _wiring(app).settings.codes.signing_key


@contextmanager
def committed(app: Flask) -> Iterator[Session]:
    """A session of the app's database whose work is committed at the end of the block."""
    with _wiring(app).db.session() as session, session.begin():
        yield session


# --- labs, sites, rounds, staff -------------------------------------------------------------


def make_lab(
    session: Session, crypto: PersonalDataCrypto, name: str | None = None
) -> tuple[Lab, str]:
    """A lab and its plaintext upload secret (stored encrypted, as ``miniapp labs create``)."""
    secret = secrets.token_urlsafe(32)
    remember(secret)
    lab = Lab(
        lab_id="lab_" + secrets.token_hex(6),
        name=name or f"Lab {next(_SEQ)}",
        secret_enc=crypto.encrypt(LAB_SECRET_PURPOSE, secret),
    )
    session.add(lab)
    session.flush()
    return lab, secret


def make_site(session: Session, name: str | None = None, lab: Lab | None = None) -> Site:
    site = Site(name=name or f"Site {next(_SEQ)}", lab_id=lab.id if lab else None)
    session.add(site)
    session.flush()
    return site


def make_round(
    session: Session, name: str | None = None, *, closed: bool = False
) -> ScreeningRound:
    """An open round (one at a time: close the previous one first), or an already closed one."""
    now = datetime.now(UTC)
    screening_round = ScreeningRound(
        name=name or f"2022-03-16 Pudong #{next(_SEQ)}",
        opened_at=now - timedelta(hours=2),
        closed_at=now if closed else None,
    )
    session.add(screening_round)
    session.flush()
    return screening_round


@functools.cache
def _hash_of(password: str) -> str:
    """Argon2 is slow on purpose; one hash per password is enough for tests."""
    return hash_password(password)


def make_staff(
    session: Session,
    site: Site,
    password: str = STAFF_PASSWORD,
    username: str | None = None,
    *,
    active: bool = True,
) -> Staff:
    remember(password)
    staff = Staff(
        username=username or f"staff{next(_SEQ)}",
        password_hash=_hash_of(password),
        site_id=site.id,
        active=active,
    )
    session.add(staff)
    session.flush()
    return staff


# --- residents and their codes --------------------------------------------------------------


def make_resident(
    session: Session,
    crypto: PersonalDataCrypto,
    name: str = "张三",
    id_number: str | None = None,
) -> Resident:
    """A resident row (no account): a self or a dependent alike, as far as codes go."""
    document = parse_id(IdType.CN_ID, id_number or cn_id())
    resident = new_resident(crypto, document, name)
    session.add(resident)
    session.flush()
    return resident


def issue_code_for(
    session: Session,
    resident: Resident,
    key: SigningKey,
    *,
    expires_at: datetime | None = None,
    revoke_previous: bool = True,
) -> str:
    """A registration code token for ``resident`` (its row is the live code: older ones are
    revoked now, as re-issuing does).
    """
    now = datetime.now(UTC)
    if revoke_previous:
        session.execute(
            update(RegistrationCode)
            .where(
                RegistrationCode.resident_id == resident.id,
                RegistrationCode.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    # Whole seconds, as codes/service.py issues them: the token's exp is in seconds.
    expires = (expires_at or now + timedelta(days=30)).replace(microsecond=0)
    code_id = secrets.token_urlsafe(CODE_ID_BYTES)
    session.add(
        RegistrationCode(
            code_id=code_id,
            resident_id=resident.id,
            kid=key.kid,
            issued_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return sign_code(key, code_claims(resident, code_id, expires))


def code_claims(resident: Resident, code_id: str, expires_at: datetime) -> CodeClaims:
    return CodeClaims(
        code_id=code_id,
        name_masked=resident.name_masked,
        expires_at=expires_at,
    )


# --- tubes and samplings, without the API (for lab and results tests) -----------------------


def make_tube(
    session: Session,
    screening_round: ScreeningRound,
    site: Site,
    tube_no: str | None = None,
    capacity: int = 10,
) -> Tube:
    tube = Tube(
        tube_no=tube_no or f"T{next(_SEQ):08d}",
        round_id=screening_round.id,
        site_id=site.id,
        lab_id=site.lab_id,
        capacity=capacity,
        bound_count=0,
    )
    session.add(tube)
    session.flush()
    return tube


def sample_into(
    session: Session,
    tube: Tube,
    residents: Sequence[Resident],
    staff: Staff,
    *,
    scanned_at: datetime | None = None,
) -> list[Sampling]:
    """Bind residents to a tube directly, as accepted scans would have."""
    assert tube.bound_count + len(residents) <= tube.capacity, "more people than the tube holds"
    at = scanned_at or datetime.now(UTC)
    samplings = [
        Sampling(
            round_id=tube.round_id,
            resident_id=resident.id,
            tube_id=tube.id,
            site_id=tube.site_id,
            staff_id=staff.id,
            code_id=secrets.token_urlsafe(CODE_ID_BYTES),
            scanned_at=at,
        )
        for resident in residents
    ]
    session.add_all(samplings)
    tube.bound_count += len(residents)
    session.flush()
    return samplings


# --- the staff app ------------------------------------------------------------------------


def scan_item(
    code: str,
    tube_no: str,
    *,
    client_id: str | None = None,
    scanned_at: datetime | None = None,
    capacity: int | None = None,
) -> dict[str, Any]:
    """One item of ``POST /api/v1/sampling/scans``, as the scanning app sends it."""
    item: dict[str, Any] = {
        "client_id": client_id or str(uuid.uuid4()),
        "tube_no": tube_no,
        "code": code,
        "scanned_at": (scanned_at or datetime.now(UTC)).isoformat(),
    }
    if capacity is not None:
        item["capacity"] = capacity
    return item


@dataclass
class StaffClient:
    """A staff member's scanning app, acting through the Flask test client."""

    client: FlaskClient
    username: str
    password: str = STAFF_PASSWORD
    token: str | None = None
    last: TestResponse | None = field(default=None, repr=False)

    def login(self) -> TestResponse:
        body = {"username": self.username, "password": self.password}
        response = self.client.post("/api/v1/staff/login", json=body)
        if response.status_code == 200:
            self.token = response.get_json()["token"]
            TOKENS.add(self.token)
        self.last = response
        return response

    @property
    def auth(self) -> dict[str, str]:
        assert self.token, "log in first"
        return {"Authorization": f"Bearer {self.token}"}

    def scan(self, *items: dict[str, Any]) -> TestResponse:
        response = self.client.post(
            "/api/v1/sampling/scans", json={"items": list(items)}, headers=self.auth
        )
        self.last = response
        return response

    def scan_answers(self, *items: dict[str, Any]) -> list[dict[str, Any]]:
        """The per-item answers of a batch that must be accepted (200)."""
        response = self.scan(*items)
        assert response.status_code == 200, response.get_json()
        answers: list[dict[str, Any]] = response.get_json()["items"]
        return answers

    def close(self, tube_no: str) -> TestResponse:
        response = self.client.post(f"/api/v1/sampling/tubes/{tube_no}/close", headers=self.auth)
        self.last = response
        return response
