"""Rotating the data key and the index key on PostgreSQL while residents use the service
(README "Rotating keys"), and a lab's upload secret with an overlap.

The steps are the README's: every node reads the new keys (step 1 is checked in
tests/unit/security/test_key_rings.py: a node writing with key 1 reads what key 2 wrote), then
writes with them, then ``miniapp keys rotate`` runs in small batches while a thread keeps
registering new residents, correcting a name and looking results up; ``miniapp keys status``
then finds nothing left, and nodes holding only the new keys answer every resident as before.
"""

from __future__ import annotations

import base64
import copy
import secrets
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.migrate import upgrade
from miniapp_api.rekeying.commands import keys
from miniapp_api.rekeying.rotate import CHECKPOINT_KEY
from miniapp_api.residents import records
from miniapp_api.residents.identity import IdType, parse_document
from miniapp_api.residents.models import Resident
from miniapp_api.sampling.commands import labs
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.integration.conftest import scratch_postgresql
from tests.support.clients import LabClient, result
from tests.support.factories import LabKey, committed, make_lab
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser
from tests.support.sensitive import remember
from tests.support.world import Person, answers, exported_residents, populate

# Every column a key wrote, for the scan at the end.
SEALED = {
    "accounts": ("session_key_enc", "phone_enc"),
    "residents": ("id_enc", "name_enc", "phone_enc"),
    "labs": ("secret_enc", "previous_secret_enc"),
}


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def database() -> Iterator[str]:
    with scratch_postgresql() as url:
        upgrade(url)
        yield url


def app_with(base: dict[str, Any], data_key: str, index_key: str) -> Flask:
    overrides = copy.deepcopy(base)
    overrides["SECURITY"] = {"DATA_KEY": data_key, "INDEX_KEY": index_key}
    app = create_app(overrides)
    app.testing = True
    return app


def close(app: Flask) -> None:
    app.extensions["miniapp"].db.dispose()
    app.extensions["miniapp"].redis.close()


class Traffic(threading.Thread):
    """Residents using the service while the rotation runs: new registrations, a name
    corrected again and again (a write to rows the rotation rewrites), lookups."""

    def __init__(self, app: Flask, phone: EmulatorPhone, people: list[Person]) -> None:
        super().__init__(daemon=True)
        self.app, self.phone, self.people = app, phone, people
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.registered: list[Person] = []
        self.last_name = ""
        self.rounds = 0

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001  (reported by the test, not lost in a thread)
            self.problems.append(f"{type(exc).__name__}: {exc}")

    def _run(self) -> None:
        client = self.app.test_client()
        corrector = self.people[2].holder
        corrector.client = client
        while not self.stop.is_set() and not self.problems:
            # Each round from its own address: the lookup quota is per address (and per code).
            address = {"REMOTE_ADDR": f"10.9.{self.rounds // 250}.{self.rounds % 250 + 1}"}
            user = MiniProgramUser(client, self.phone, ("alipay", "wechat")[self.rounds % 2])
            id_number = cn_id()
            answer = user.register("赵六", id_number, phone=f"139{self.rounds:08d}")
            if answer.status_code != 200:
                self.problems.append(f"register: {answer.status_code} {answer.get_json()}")
                return
            me = Person(user, user.me()["self"]["id"], id_number)
            shown = client.get(f"/api/v1/residents/{me.resident_id}/code", headers=user.auth)
            me.code = shown.get_json()["token"]
            self.registered.append(me)
            name = ("李四", "李肆")[self.rounds % 2]
            corrected = corrector.declare(name, self.people[2].id_number)
            if corrected.status_code != 200:
                self.problems.append(f"correct: {corrected.status_code} {corrected.get_json()}")
                return
            self.last_name = name
            # A resident written this round, and (twice each, within the per-code quota) the
            # residents written before the rotation.
            looked_up = [me] + ([self.people[self.rounds % 4]] if self.rounds < 8 else [])
            for person in looked_up:
                body = {"code": person.code, "id_number": person.id_number}
                looked = client.post("/api/v1/lookup", json=body, environ_overrides=address)
                if looked.status_code != 200:
                    self.problems.append(f"lookup: {looked.status_code} {looked.get_json()}")
            self.rounds += 1


def test_both_keys_rotate_while_residents_use_the_service(
    database: str,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    phone: EmulatorPhone,
    redis_client: redis.Redis,
) -> None:
    base = app_overrides(platform_keys, emulator.base_url, database, REDIS_URL)
    data1, index1, data2, index2 = new_key(), new_key(), new_key(), new_key()
    remember(data1, index1, data2, index2)

    # Before: one key each (id 1, as every installation before rotation existed).
    before = app_with(base, data1, index1)
    users, people = populate(before, phone)
    lab = make_lab(before)
    seen = answers(before.test_client(), users, people)
    exported = exported_residents(before.test_client(), users[0])
    residents_before = _count_residents(database)
    close(before)

    # Step 2 of the README: every node writes with key 2 and still reads key 1.
    during = app_with(base, f"1:{data1},2:{data2}", f"1:{index1},2:{index2}")
    runner = during.test_cli_runner()
    pending = runner.invoke(keys, ["status"])
    assert pending.exit_code == 1, pending.output
    assert "DATA_KEY: writing with key 2; also reading keys: 1" in pending.output
    assert "residents: 4 rows read, 4 to rewrite" in pending.output

    # A node writing with the new index key finds a person indexed under the old one.
    add_the_child_again(during.test_client(), phone, people)
    assert _count_residents(database) == residents_before

    traffic = Traffic(during, phone, people)
    traffic.start()
    try:
        while traffic.rounds < 2 and traffic.is_alive():  # traffic before the rotation starts
            traffic.stop.wait(0.05)
        rounds_before = traffic.rounds
        # One row per batch and a rest between batches: the rotation spans many rounds.
        rotated = runner.invoke(keys, ["rotate", "--batch-size", "1", "--pause", "0.1"])
        rounds_during = traffic.rounds - rounds_before
    finally:
        traffic.stop.set()
        traffic.join(timeout=60)
    assert traffic.problems == []
    assert rotated.exit_code == 0, rotated.output
    assert rounds_during >= 3, rounds_during  # it really ran alongside
    assert "residents:" in rotated.output
    assert "re-encrypted" in rotated.output

    done = runner.invoke(keys, ["status"])
    assert done.exit_code == 0, done.output
    assert "Everything is under the current keys" in done.output
    close(during)

    # Step 4: key 1 of each is removed; everything is still there.
    after = app_with(base, f"2:{data2}", f"2:{index2}")
    client = after.test_client()
    for user in users:
        user.client = client
    for person in traffic.registered:
        person.holder.client = client
    try:
        assert answers(client, users, people) == seen
        assert exported_residents(client, users[0]) == exported
        corrected = exported_residents(client, people[2].holder)
        assert corrected[0]["name"] == traffic.last_name  # the last correction was kept
        for person in traffic.registered:
            [mine] = exported_residents(client, person.holder)
            assert mine["id_number"] == person.id_number
        # Found by the re-made ID index, not registered a second time.
        add_the_child_again(client, phone, people)
        assert _count_residents(database) == residents_before + len(traffic.registered)
        # The lab secret was re-encrypted too: its uploads still verify.
        upload = LabClient(client, lab).upload([result("T20220316103", "negative")])
        assert upload.status_code == 200, upload.get_json()
    finally:
        close(after)
    assert _key_ids(database) == {(2, 2)}  # format 2, key 2
    assert redis_client.hget(CHECKPOINT_KEY, "residents") is not None


def test_an_interrupted_rotation_resumes_from_its_checkpoint(
    database: str,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    phone: EmulatorPhone,
    redis_client: redis.Redis,
) -> None:
    base = app_overrides(platform_keys, emulator.base_url, database, REDIS_URL)
    data1, index1, data2 = new_key(), new_key(), new_key()
    before = app_with(base, data1, index1)
    populate(before, phone)
    close(before)
    during = app_with(base, f"1:{data1},2:{data2}", index1)
    try:
        # Two residents done, then the process died: the checkpoint says so.
        from miniapp_api.rekeying.rotate import Rotation

        wire = during.extensions["miniapp"]
        rotation = Rotation(wire.db.engine, wire.crypto, wire.redis, batch_size=2)
        reports = rotation.run()
        assert [r.table for r in reports] == ["accounts", "residents", "labs"]
        redis_client.hset(CHECKPOINT_KEY, "residents", "d2.i1:2")
        redis_client.hdel(CHECKPOINT_KEY, "accounts", "labs")
        resumed = during.test_cli_runner().invoke(keys, ["rotate"])
        assert resumed.exit_code == 0, resumed.output
        assert "residents: 2 rows read (resumed after id 2), 0 rewritten:" in resumed.output
        # With other target keys the checkpoint does not apply.
        redis_client.hset(CHECKPOINT_KEY, "residents", "d9.i9:4")
        again = during.test_cli_runner().invoke(keys, ["rotate"])
        assert "residents: 4 rows read, 0 rewritten:" in again.output
    finally:
        close(during)


def test_a_lab_secret_rotates_with_an_overlap_and_a_leaked_one_stops_at_once(
    app: Flask, redis_client: redis.Redis
) -> None:
    lab = make_lab(app)
    client = app.test_client()
    runner = app.test_cli_runner()

    rotated = runner.invoke(labs, ["rotate-secret", lab.lab_id, "--overlap-hours", "2"])
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.output.split("new secret: ")[1].split()[0]
    remember(new_secret)
    assert "The previous secret works until" in rotated.output
    new = LabKey(id=lab.id, lab_id=lab.lab_id, secret=new_secret)
    # Both work during the overlap; the old one is logged so the operator sees who lags.
    assert upload(client, lab) == 200
    assert upload(client, new) == 200

    leaked = runner.invoke(labs, ["rotate-secret", lab.lab_id, "--overlap-hours", "0"])
    assert "The previous secret no longer works." in leaked.output
    newest = leaked.output.split("new secret: ")[1].split()[0]
    remember(newest)
    assert upload(client, new) == 401
    assert upload(client, lab) == 401
    assert upload(client, LabKey(lab.id, lab.lab_id, newest)) == 200

    unknown = runner.invoke(labs, ["rotate-secret", "lab_nobody"])
    assert unknown.exit_code == 1
    assert "no lab with id 'lab_nobody'" in unknown.output


def add_the_child_again(client: FlaskClient, phone: EmulatorPhone, people: list[Person]) -> None:
    """A new login adds the child of ``populate`` as a dependent: the child is found by their
    ID number (whatever the answer), never made a second time."""
    again = MiniProgramUser(client, phone, "wechat")
    assert again.login().status_code == 200
    added = again.add_dependent("张小明", people[1].id_number, guardian_consent=True)
    assert added.status_code < 500, added.get_json()


def upload(client: FlaskClient, lab: LabKey) -> int:
    """The status of one signed upload (of a tube nobody scanned: accepted and reported)."""
    return LabClient(client, lab).upload([result("T20991231001", "negative")]).status_code


def _count_residents(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Resident)).scalar_one())
    finally:
        engine.dispose()


def _key_ids(url: str) -> set[tuple[int, int]]:
    """The (format, data key id) of every stored ciphertext."""
    engine = create_engine(url)
    found: set[tuple[int, int]] = set()
    try:
        with engine.connect() as connection:
            for table, columns in SEALED.items():
                for column in columns:
                    rows = connection.execute(
                        text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
                    )
                    found |= {(bytes(blob)[0], bytes(blob)[1]) for (blob,) in rows}
    finally:
        engine.dispose()
    return found


def test_a_person_registered_twice_during_the_rollout_is_reported_not_merged(
    database: str,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    phone: EmulatorPhone,
    redis_client: redis.Redis,
) -> None:
    base = app_overrides(platform_keys, emulator.base_url, database, REDIS_URL)
    data1, index1, index2 = new_key(), new_key(), new_key()
    before = app_with(base, data1, index1)
    user = MiniProgramUser(before.test_client(), phone, "wechat")
    id_number = cn_id()
    assert user.register("孙七", id_number).status_code == 200
    first_id = user.me()["self"]["id"]
    close(before)
    # A node that knew only key 2 registered the same person at the same moment (the race
    # step 1 of the README prevents): its index under key 2, the first under key 1.
    during = app_with(base, data1, f"1:{index1},2:{index2}")
    try:
        crypto = during.extensions["miniapp"].crypto
        document = parse_document(IdType.CN_ID, id_number, date.today())
        with committed(during) as session:
            twin = records.new_resident(crypto, document, "孙七")
            session.add(twin)
            session.flush()
            twin_id = twin.public_id
        rotated = during.test_cli_runner().invoke(keys, ["rotate"])
        assert rotated.exit_code == 1, rotated.output
        assert f"{first_id} is the same person as {twin_id}: merge them" in rotated.output
        # Nothing was lost or overwritten: both rows, each on its own index.
        assert _count_residents(database) == 2
        assert during.test_cli_runner().invoke(keys, ["status"]).exit_code == 1
    finally:
        close(during)
