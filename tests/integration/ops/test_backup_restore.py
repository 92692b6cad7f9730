"""Backup and restore (README, "Backup and restore"): PostgreSQL is the system of record, Redis
is rebuilt.

A database populated through the API (residents with codes, samplings, results, an export in
the audit trail) is dumped with ``pg_dump -Fc``, restored with ``pg_restore`` into an empty
database, and served by a new app on an emptied Redis after ``miniapp readmodel rebuild``:
every resident sees the same results and lookups as before the backup (after logging in
again: sessions lived in Redis), the decrypted personal data is the same, and the audit chain
verifies with the same heads digest.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.audit.commands import audit
from miniapp_api.migrate import upgrade
from miniapp_api.results.commands import readmodel
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.integration.conftest import scratch_postgresql
from tests.integration.ops.conftest import INTERNAL_BIND, ON_INTERNAL_BIND
from tests.support.clients import LabClient, StaffClient, result, scan_item
from tests.support.factories import ago, make_lab, make_round, make_site, make_staff
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

PG_DUMP, PG_RESTORE = shutil.which("pg_dump"), shutil.which("pg_restore")
pytestmark = pytest.mark.skipif(
    PG_DUMP is None or PG_RESTORE is None, reason="pg_dump / pg_restore not installed"
)


@dataclass
class Person:
    """A resident as the test knows them: who holds them, and what their code is."""

    holder: MiniProgramUser
    resident_id: str
    id_number: str
    code: str = ""


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


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


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two scratch PostgreSQL databases: the one backed up, the empty one restored into."""
    with scratch_postgresql() as source, scratch_postgresql() as target:
        yield source, target


def test_a_restored_database_with_an_empty_redis_answers_every_resident_as_before(
    databases: tuple[str, str],
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    phone: EmulatorPhone,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    source, target = databases
    # The keys (DATA_KEY, INDEX_KEY, code signing) are not in the dump: the restored nodes
    # get the same ones from their environment, as the README says to keep them apart.
    overrides: dict[str, Any] = copy.deepcopy(
        app_overrides(platform_keys, emulator.base_url, source, REDIS_URL)
    )
    overrides["OPS"] = {"INTERNAL_BIND": INTERNAL_BIND}
    upgrade(source)
    before = create_app(overrides)
    users, people = populate(before, phone)
    client = before.test_client()
    seen = answers(client, users, people)
    exported = exported_residents(client, users[0])
    chain = before.test_cli_runner().invoke(audit, ["verify"])
    assert chain.exit_code == 0, chain.output
    # Consents, the export...: a chain to check, not an empty one.
    assert re.match(r"audit chains intact: [1-9][0-9]* events, heads digest ", chain.output)
    before.extensions["miniapp"].db.dispose()
    before.extensions["miniapp"].redis.close()

    dump = tmp_path / "miniapp.dump"
    subprocess.run(  # noqa: S603  # our own argv, no shell
        [str(PG_DUMP), "-Fc", "--file", str(dump), "--dbname", libpq_url(source)], check=True
    )
    redis_client.flushdb()  # Redis is lost with the old machines
    restore = [str(PG_RESTORE), "--no-owner", "--exit-on-error", "--single-transaction"]
    target_url = libpq_url(target)
    subprocess.run([*restore, "--dbname", target_url, str(dump)], check=True)  # noqa: S603

    overrides["DATABASE"] = {"URL": target}
    after = create_app(overrides)
    try:
        runner = after.test_cli_runner()
        rebuilt = runner.invoke(readmodel, ["rebuild"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert rebuilt.output.strip() == "read model rebuilt: 4 samplings"

        client = after.test_client()
        for user in users:  # their sessions were in Redis: each logs in again
            assert client.get("/api/v1/results", headers=user.auth).status_code == 401
            user.client = client
            assert user.login(consent=False).status_code == 200
        assert answers(client, users, people) == seen
        pending, negative = seen[0][2]["residents"][0], seen[0][0]["residents"][1]
        assert (pending["latest"]["state"], negative["latest"]["state"]) == ("pending", "negative")

        verified = runner.invoke(audit, ["verify"])
        assert verified.exit_code == 0, verified.output
        assert verified.output == chain.output  # the same events, the same heads digest
        assert exported_residents(client, users[0]) == exported  # (one more audit event)
        ready = client.get("/readyz", environ_overrides=ON_INTERNAL_BIND)
        assert ready.get_json()["checks"]["migrations"] == "ok"
    finally:
        after.extensions["miniapp"].db.dispose()
        after.extensions["miniapp"].redis.close()
