"""The H5 lookup API's client, and codes and ID numbers for its tests."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from miniapp_api.residents.identity import IdType, InvalidIdNumber, parse_id
from tests.support.factories import Person, issue_code
from tests.support.sensitive import remember

LOOKUP = "/api/v1/lookup"


def reissue(app: Flask, person: Person) -> Person:
    """A new code for the person: the previous one is void."""
    return Person(person.resident, person.id_number, issue_code(app, person.resident))


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
    client: FlaskClient, code: str, id_number: str, address: str = "127.0.0.1"
) -> TestResponse:
    return client.post(
        LOOKUP,
        json={"code": code, "id_number": id_number},
        environ_base={"REMOTE_ADDR": address},
    )
