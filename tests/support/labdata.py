"""Rows for lab and results tests (labs, sites, tubes, people, accounts) and a signing lab client.

Rows are made directly through the models, as the sampling feature would leave them.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from miniapp_api.db import utcnow
from miniapp_api.lab.signing import sign
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.residents.models import Account, AccountResident, Relation, Resident
from miniapp_api.sampling.models import Lab, Sampling, ScreeningRound, Site, Staff, Tube
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.wiring import Wiring
from tests.support.sensitive import remember

_SEQ = itertools.count(1)


def wire_of(app: Flask) -> Wiring:
    found = app.extensions["miniapp"]
    assert isinstance(found, Wiring)
    return found


def new_session(app: Flask) -> Session:
    return wire_of(app).db.sessions()


@dataclass(frozen=True)
class LabKey:
    pk: int
    lab_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Desk:
    """Where samplings happen: a round, a site (sending to a lab) and a staff member."""

    round_id: int
    round_name: str
    site_id: int
    site_name: str
    staff_id: int
    lab: LabKey


def make_lab(app: Flask) -> LabKey:
    n = next(_SEQ)
    lab_id, secret = f"lab_t{n:04d}{secrets.token_hex(3)}", secrets.token_urlsafe(32)
    remember(secret)  # never in a response or a log line (tests/test_no_leaks.py)
    with new_session(app) as session, session.begin():
        lab = Lab(
            lab_id=lab_id,
            name=f"Lab {lab_id}",
            secret_enc=wire_of(app).crypto.encrypt(LAB_SECRET_PURPOSE, secret),
        )
        session.add(lab)
        session.flush()
        return LabKey(lab.id, lab_id, secret)


def make_desk(app: Flask, lab: LabKey) -> Desk:
    n = next(_SEQ)
    with new_session(app) as session, session.begin():
        # Closed: only one round may be open; lab uploads do not need an open round.
        rnd = ScreeningRound(name=f"Round {n}", closed_at=utcnow())
        site = Site(name=f"Site {n}", lab_id=lab.pk)
        session.add_all([rnd, site])
        session.flush()
        staff = Staff(username=f"staff{n}", password_hash="x", site_id=site.id)
        session.add(staff)
        session.flush()
        return Desk(rnd.id, rnd.name, site.id, site.name, staff.id, lab)


def make_residents(app: Flask, count: int) -> list[Resident]:
    crypto = wire_of(app).crypto
    with new_session(app) as session, session.begin():
        people = []
        for _ in range(count):
            n = next(_SEQ)
            people.append(
                Resident(
                    id_type="cn_id",
                    id_index=secrets.token_hex(32),
                    id_enc=crypto.encrypt("resident.id_number", f"test-{n}"),
                    id_masked="310***********0000",
                    name_enc=crypto.encrypt("resident.name", f"Person {n}"),
                    name_masked=f"P*{n}",
                )
            )
        session.add_all(people)
        return people


def make_account(
    app: Flask,
    holds: Sequence[tuple[Resident, Relation]] = (),
    platform: str = "wechat",
) -> Account:
    """An account holding residents (self and/or dependents)."""
    with new_session(app) as session, session.begin():
        account = Account(platform=platform, app_id="wxtest", subject=f"o{secrets.token_hex(8)}")
        session.add(account)
        session.flush()
        for resident, relation in holds:
            session.add(
                AccountResident(account_id=account.id, resident_id=resident.id, relation=relation)
            )
        return account


def make_tube(
    app: Flask,
    desk: Desk,
    people: Sequence[Resident],
    *,
    capacity: int = 10,
    closed: bool = True,
    scanned_at: datetime | None = None,
    lab_pk: int | None = None,
) -> str:
    """A tube with ``people`` sampled into it; its pending read-model entries are recorded too,
    as the sampling feature does. Returns the tube number."""
    at = scanned_at or datetime.now(UTC) - timedelta(hours=3)
    tube_no = f"T{next(_SEQ):06d}{secrets.token_hex(2).upper()}"
    with new_session(app) as session, session.begin():
        tube = Tube(
            tube_no=tube_no,
            round_id=desk.round_id,
            site_id=desk.site_id,
            lab_id=desk.lab.pk if lab_pk is None else lab_pk,
            capacity=capacity,
            bound_count=len(people),
            opened_at=at,
            closed_at=at + timedelta(minutes=5) if closed else None,
        )
        session.add(tube)
        session.flush()
        for person in people:
            session.add(
                Sampling(
                    round_id=desk.round_id,
                    resident_id=person.id,
                    tube_id=tube.id,
                    site_id=desk.site_id,
                    staff_id=desk.staff_id,
                    code_id=secrets.token_hex(8),
                    scanned_at=at,
                )
            )
    entry = ResultEntry(tube_no, desk.round_name, desk.site_name, at, state="pending")
    ResultReadModel(wire_of(app).redis).record((p.public_id, entry) for p in people)
    return tube_no


def iso_ago(minutes_ago: int = 30) -> str:
    """An ISO timestamp with the Beijing offset, as a lab would send it."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.astimezone().isoformat(timespec="seconds")


@dataclass
class LabClient:
    """A lab's upload client: signs every request as miniapp_api/lab/signing.py says."""

    client: FlaskClient
    key: LabKey

    def send(
        self,
        path: str,
        body: dict[str, Any] | bytes,
        *,
        idempotency_key: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        secret: str | None = None,
        lab_id: str | None = None,
        signed_path: str | None = None,
        signed_body: bytes | None = None,
    ) -> TestResponse:
        """POST ``body``; the keyword arguments break one part of the signature on purpose."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(8)
        signature = sign(
            secret or self.key.secret,
            "POST",
            signed_path or path.split("?")[0],
            ts,
            nonce,
            raw if signed_body is None else signed_body,
        )
        headers = {
            "X-Lab-Id": lab_id or self.key.lab_id,
            "X-Timestamp": ts,
            "X-Nonce": nonce,
            "X-Signature": signature,
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self.client.post(path, data=raw, headers=headers, content_type="application/json")

    def upload(
        self, results: list[dict[str, Any]], idempotency_key: str | None = None, **kw: Any
    ) -> TestResponse:
        key = idempotency_key or secrets.token_hex(12)
        return self.send("/api/v1/lab/results", {"results": results}, idempotency_key=key, **kw)

    def amend(
        self, tube_no: str, result: str, reason: str = "re-read of the plate", **kw: Any
    ) -> TestResponse:
        body = {"result": result, "tested_at": kw.pop("tested_at", iso_ago(5)), "reason": reason}
        return self.send(f"/api/v1/lab/results/{tube_no}/amend", body, **kw)


def result(tube_no: str, outcome: str = "negative", tested_at: str | None = None) -> dict[str, str]:
    return {"tube_no": tube_no, "result": outcome, "tested_at": tested_at or iso_ago()}
