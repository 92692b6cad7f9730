"""People with registration codes and results, and a client of the H5 lookup API."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from miniapp_api.codes.tokens import sign_code
from miniapp_api.residents.identity import IdType, InvalidIdNumber, parse_id
from miniapp_api.residents.models import Resident
from miniapp_api.residents.records import set_phone
from tests.support.ids import cn_id
from tests.support.labdata import (
    Desk,
    make_tube,
)
from tests.support.screening import (
    code_claims,
    committed,
    crypto_of,
    issue_code_for,
    make_resident,
    signing_key_of,
)
from tests.support.sensitive import TOKENS, remember
from tests.support.sql import recorded_statements

LOOKUP = "/api/v1/lookup"


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


def make_person(
    app: Flask,
    name: str = "欧阳娜娜",
    id_number: str | None = None,
    *,
    phone: str | None = None,
    expires_at: datetime | None = None,
) -> Person:
    number = id_number or cn_id()
    with committed(app) as session:
        resident = make_resident(session, crypto_of(app), name, number)
        if phone is not None:
            remember(phone)
            set_phone(resident, crypto_of(app), phone)
        token = issue_code_for(session, resident, signing_key_of(app), expires_at=expires_at)
    TOKENS.add(token)  # never in a log line (tests/test_no_leaks.py)
    return Person(resident, number, token)


def reissue(app: Flask, person: Person) -> Person:
    """A new code for the person: the previous one is void."""
    with committed(app) as session:
        token = issue_code_for(session, person.resident, signing_key_of(app))
    TOKENS.add(token)
    return Person(person.resident, person.id_number, token)


def unknown_code(app: Flask, like: Person) -> str:
    """A genuine signature over a code id we never issued."""
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    token = sign_code(
        signing_key_of(app), code_claims(like.resident, secrets.token_urlsafe(9), expires)
    )
    TOKENS.add(token)
    return token


def tampered(token: str) -> str:
    """The token with one character of its signature changed."""
    i = len(token) - 10
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


def id_ending_in_x() -> str:
    """A valid mainland ID number whose check character is X."""
    for seq in range(1000):
        number = f"31011519850612{seq:03d}X"
        try:
            parse_id(IdType.CN_ID, number)
        except InvalidIdNumber:
            continue
        remember(number)
        return number
    raise AssertionError("no sequence number gives check character X")


def look_up(
    client: FlaskClient, code: str, id_last4: str, address: str = "127.0.0.1"
) -> TestResponse:
    return client.post(
        LOOKUP,
        json={"code": code, "id_last4": id_last4},
        environ_base={"REMOTE_ADDR": address},
    )


def sampled(app: Flask, desk: Desk, people: list[Resident], *, hours_ago: float = 3) -> str:
    """A tube with ``people`` in it (rows and pending read-model entries); its number."""
    return make_tube(app, desk, people, scanned_at=datetime.now(UTC) - timedelta(hours=hours_ago))


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    with recorded_statements(app) as seen:
        yield seen
