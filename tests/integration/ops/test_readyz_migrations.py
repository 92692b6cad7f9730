"""``/readyz`` and the schema's migrations: a node is not ready while the database is behind
the code's newest migration, and ready (saying so) when a newer deploy's expand step ran first.

On a scratch PostgreSQL database migrated only part of the way, as a deploy that forgot
``miniapp db upgrade`` (or ran the new code first) would find it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, text

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.migrate import upgrade
from miniapp_api.ops.schema_revision import MIGRATIONS, code_revisions
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.integration.ops.conftest import INTERNAL_BIND, ON_INTERNAL_BIND
from tests.support.sql import recorded_statements

HEAD = code_revisions().head
# The revision before the code's newest: what the database holds before this deploy migrates.
PREVIOUS = ScriptDirectory(str(MIGRATIONS)).get_revision(HEAD).down_revision
FUTURE = "9001_from_a_newer_deploy"


@pytest.fixture
def node(
    postgresql_url: str,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> Iterator[Flask]:
    """An app node on an empty scratch database, its internal listener configured."""
    overrides: dict[str, Any] = copy.deepcopy(
        app_overrides(platform_keys, emulator.base_url, postgresql_url, REDIS_URL)
    )
    overrides["OPS"] = {"INTERNAL_BIND": INTERNAL_BIND}
    app = create_app(overrides)
    yield app
    dispose(app)


def dispose(app: Flask) -> None:
    wire = app.extensions["miniapp"]
    wire.db.dispose()
    wire.redis.close()


def readiness(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/readyz", environ_overrides=ON_INTERNAL_BIND)
    return response.status_code, response.get_json()


def set_revision(url: str, revision: str) -> None:
    """Record ``revision`` as the database's, as a newer release's migration would leave it."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_behind_the_code_is_not_ready_until_migrated(
    node: Flask, postgresql_url: str
) -> None:
    assert PREVIOUS is not None
    upgrade(postgresql_url, str(PREVIOUS))

    status, answer = readiness(node)

    assert status == 503
    assert answer == {
        "status": "not_ready",
        "checks": {
            "database": "ok",
            "migrations": f"behind (db {PREVIOUS}, code {HEAD})",
            "redis": "ok",
        },
    }

    upgrade(postgresql_url)  # `miniapp db upgrade`, the running node untouched

    assert readiness(node) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}},
    )


def test_a_database_never_migrated_is_not_ready(node: Flask) -> None:
    status, answer = readiness(node)

    assert status == 503
    assert answer["checks"]["database"] == "ok"  # it answers; it has no schema yet
    assert answer["checks"]["migrations"] == f"behind (db none, code {HEAD})"


def test_a_database_ahead_of_the_code_is_ready_and_says_so(
    node: Flask, postgresql_url: str
) -> None:
    # Expand, then deploy: the new release's additive migration ran while this node still
    # runs the old code, which works on the expanded schema.
    upgrade(postgresql_url)
    set_revision(postgresql_url, FUTURE)

    status, answer = readiness(node)

    assert status == 200
    assert answer["status"] == "ready"
    assert answer["checks"]["migrations"] == f"ahead (db {FUTURE}, code {HEAD})"


def test_readiness_asks_the_database_one_query(node: Flask, postgresql_url: str) -> None:
    upgrade(postgresql_url)
    readiness(node)  # the code's revisions are read from the scripts once per process

    with recorded_statements(node) as seen:
        assert readiness(node)[0] == 200

    assert seen == ["SELECT version_num FROM alembic_version"]


def test_a_database_that_does_not_answer_is_not_ready(
    platform_keys: PlatformKeys, emulator: RunningEmulator, redis_client: redis.Redis
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"
    overrides = copy.deepcopy(
        app_overrides(platform_keys, emulator.base_url, unreachable, REDIS_URL)
    )
    overrides["OPS"] = {"INTERNAL_BIND": INTERNAL_BIND}
    app = create_app(overrides)

    status, answer = readiness(app)
    dispose(app)
    assert status == 503
    assert answer["checks"] == {"database": "OperationalError", "redis": "ok"}
