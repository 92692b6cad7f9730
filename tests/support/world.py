"""A small populated world for tests that must see every resident answer the same before and
after an operation (backup and restore, key rotation): logins on both platforms, four people
with codes, samplings and results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.clients import LabClient, StaffClient, result, scan_item
from tests.support.factories import ago, make_lab, make_round, make_site, make_staff
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


@dataclass
class Person:
    """A resident as the test knows them: who holds them, and what their code is."""

    holder: MiniProgramUser
    resident_id: str
    id_number: str
    code: str = ""


def answers(client: FlaskClient, users: list[MiniProgramUser], people: list[Person]) -> Any:
    """What every resident sees: each login's results, each person's H5 lookup."""
    results = []
    for user in users:
        response = client.get("/api/v1/results", headers=user.auth)
        assert response.status_code == 200, response.get_json()
        results.append(response.get_json())
    lookups = []
    for person in people:
        body = {"code": person.code, "id_number": person.id_number}
        response = client.post("/api/v1/lookup", json=body)
        assert response.status_code == 200, response.get_json()
        lookups.append(response.get_json())
    return results, lookups


def exported_residents(client: FlaskClient, user: MiniProgramUser) -> Any:
    """The decrypted personal data of ``user``'s people (their export, which is audited)."""
    response = client.get("/api/v1/me/export", headers=user.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["residents"]


def populate(app: Flask, phone: EmulatorPhone) -> tuple[list[MiniProgramUser], list[Person]]:
    """Three logins on both platforms, four people (one a child), three tubes: negative,
    positive, and one the lab has not answered yet (pending)."""
    client = app.test_client()
    parent, other, waiting = (
        MiniProgramUser(client, phone, "wechat"),
        MiniProgramUser(client, phone, "alipay"),
        MiniProgramUser(client, phone, "wechat"),
    )
    people: list[Person] = []
    for user, name in ((parent, "张三"), (other, "李四"), (waiting, "王五")):
        id_number = cn_id()
        assert user.register(name, id_number).status_code == 200
        people.append(Person(user, user.me()["self"]["id"], id_number))
    child_id_number = cn_id(birth="20180101")
    added = parent.add_dependent("张小明", child_id_number, guardian_consent=True)
    assert added.status_code == 201, added.get_json()
    [child] = parent.me()["dependents"]
    people.insert(1, Person(parent, child["id"], child_id_number))
    for person in people:
        code = client.get(
            f"/api/v1/residents/{person.resident_id}/code", headers=person.holder.auth
        )
        assert code.status_code == 200, code.get_json()
        person.code = code.get_json()["token"]

    lab = make_lab(app)
    staff = make_staff(app, make_site(app, lab=lab))
    make_round(app)
    scanner = StaffClient(client, staff.username)
    assert scanner.login().status_code == 200
    tubes = ("T20220316101", "T20220316101", "T20220316102", "T20220316103")
    scanned = [
        scan_item(person.code, tube, capacity=10, scanned_at=ago(minutes=45))
        for person, tube in zip(people, tubes, strict=True)
    ]
    assert {item["status"] for item in scanner.scan_answers(*scanned)} == {"bound"}
    for tube in sorted(set(tubes)):
        assert scanner.close(tube).status_code == 200
    upload = LabClient(client, lab).upload(
        [result("T20220316101", "negative"), result("T20220316102", "positive")]
    )
    assert upload.status_code == 200, upload.get_json()
    return [parent, other, waiting], people
