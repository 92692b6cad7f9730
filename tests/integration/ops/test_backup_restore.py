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
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import make_url

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.audit.commands import audit
from miniapp_api.migrate import upgrade
from miniapp_api.results.commands import readmodel
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.integration.conftest import scratch_postgresql
from tests.integration.ops.conftest import INTERNAL_BIND, ON_INTERNAL_BIND
from tests.support.phones import EmulatorPhone
from tests.support.world import answers, exported_residents, populate

PG_DUMP, PG_RESTORE = shutil.which("pg_dump"), shutil.which("pg_restore")
pytestmark = pytest.mark.skipif(
    PG_DUMP is None or PG_RESTORE is None, reason="pg_dump / pg_restore not installed"
)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


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
