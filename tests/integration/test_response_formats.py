"""One format across the resident's answers, on PostgreSQL and on the embedded SQLite alike:
every timestamp is RFC 3339 in UTC (``...Z``), every public id carries the prefix of its kind
(``a_`` account, ``r_`` resident, ``h_`` holding, ``l_`` link request, ``c_`` code)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from channels.emulator import RunningEmulator
from miniapp_api.residents.models import Resident
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result
from tests.support.factories import make_desk, make_lab, make_tube
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

TIMESTAMP_KEYS = re.compile(r".*_at|at|since")
ID_KEYS = frozenset({"id", "code_id", "resident_id"})
PUBLIC_ID = re.compile(r"[a-z]{1,2}_[A-Za-z0-9_-]+")
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def values(body: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a JSON body, at any depth (list items under their list's key)."""
    if isinstance(body, dict):
        for name, value in body.items():
            yield name, value
            yield from values(value, name)
    elif isinstance(body, list):
        for item in body:
            yield key, item
            yield from values(item, key)


def residents(app: Flask, public_ids: list[str]) -> list[Resident]:
    with wiring_of(app).db.session() as session:
        query = select(Resident).where(Resident.public_id.in_(public_ids))
        return list(session.scalars(query))


@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
def test_timestamps_are_utc_rfc3339_and_ids_are_prefixed(
    request: pytest.FixtureRequest, emulator: RunningEmulator, where: str
) -> None:
    app: Flask = request.getfixturevalue("app" if where == "postgresql" else "embedded_app")
    user = MiniProgramUser(app.test_client(), EmulatorPhone(emulator.base_url), "wechat")
    assert user.register("张三", cn_id()).status_code == 200
    child = user.add_dependent("王小明", cn_id(birth="20180101"), guardian_consent=True)
    assert child.status_code == 201, child.get_json()
    me = user.me()
    people = [person for person in [me["self"], *me["dependents"]] if person]
    lab = make_lab(app)
    tube = make_tube(app, make_desk(app, lab), residents(app, [p["id"] for p in people]))
    assert LabClient(app.test_client(), lab).upload([result(tube)]).status_code == 200
    code_path = f"/api/v1/residents/{people[0]['id']}/code"
    answers = {
        "me": user.me(),
        "results": user.client.get("/api/v1/results", headers=user.auth).get_json(),
        "history": user.client.get("/api/v1/results/history", headers=user.auth).get_json(),
        "code": user.client.get(code_path, headers=user.auth).get_json(),
        "reissued": user.client.post(code_path, headers=user.auth).get_json(),
        "export": user.client.get("/api/v1/me/export", headers=user.auth).get_json(),
    }

    stamps = [
        (name, key, value)
        for name, body in answers.items()
        for key, value in values(body)
        if TIMESTAMP_KEYS.fullmatch(key) and isinstance(value, str)
    ]
    ids = [
        (name, key, value)
        for name, body in answers.items()
        for key, value in values(body)
        if key in ID_KEYS and isinstance(value, str)
    ]

    assert {name for name, _, _ in stamps} >= {"me", "results", "history", "code", "export"}
    assert [s for s in stamps if not RFC3339_UTC.fullmatch(s[2])] == []
    assert all(datetime.fromisoformat(s[2]).tzinfo == UTC for s in stamps)
    assert {key for _, key, _ in ids} == ID_KEYS
    assert [i for i in ids if not PUBLIC_ID.fullmatch(i[2])] == []
    assert answers["code"]["code_id"].startswith("c_")


def test_chinese_is_sent_as_utf8_never_as_escapes(app: Flask, emulator: RunningEmulator) -> None:
    """Names, sites and guidance are UTF-8 in every JSON answer (as error bodies are): half the
    bytes of ``\\uXXXX``, and legible to whoever reads a body."""
    user = MiniProgramUser(app.test_client(), EmulatorPhone(emulator.base_url), "wechat")
    assert user.register("张三丰", cn_id()).status_code == 200
    me = user.me()
    person = me["self"]
    lab = make_lab(app)
    tube = make_tube(app, make_desk(app, lab), residents(app, [person["id"]]), capacity=1)
    assert LabClient(app.test_client(), lab).upload([result(tube, "positive")]).status_code == 200
    bodies = {
        "me": user.client.get("/api/v1/me", headers=user.auth),
        "results": user.client.get("/api/v1/results", headers=user.auth),
        "code": user.client.get(f"/api/v1/residents/{person['id']}/code", headers=user.auth),
    }

    for name, response in bodies.items():
        assert response.status_code == 200, name
        raw = response.get_data()
        assert "张*丰".encode() in raw, name
        assert b"\\u" not in raw, name
    assert "请留在原地".encode() in bodies["results"].get_data(), "the guidance, in Chinese"
