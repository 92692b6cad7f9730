"""Fixtures of the integration tests: a lab with its signing client, a sampling desk whose tubes
go to that lab (tests may define a `desk` of their own), the SQL the app sends, and the app on
the embedded default (SQLite and the in-process Redis stand-in)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.migrate import upgrade
from tests.conftest import DATABASE_URL, REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp, app_factory
from tests.support.clients import LabClient
from tests.support.factories import Desk, LabKey, make_desk, make_lab
from tests.support.sql import recorded_statements


@pytest.fixture
def lab(app: Flask) -> LabKey:
    return make_lab(app)


@pytest.fixture
def desk(app: Flask, lab: LabKey) -> Desk:
    return make_desk(app, lab)


@pytest.fixture
def lab_client(client: FlaskClient, lab: LabKey) -> LabClient:
    return LabClient(client, lab)


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    with recorded_statements(app) as seen:
        yield seen


@pytest.fixture
def embedded_app(
    tmp_path: Path, platform_keys: PlatformKeys, emulator: RunningEmulator
) -> Iterator[Flask]:
    """The app as ``make run`` starts it: a fresh SQLite database and the Redis stand-in
    (``memory://``), with the real SDKs on the emulator."""
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    app = create_app(app_overrides(platform_keys, emulator.base_url, url, "memory://"))
    yield app
    app.extensions["miniapp"].db.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty scratch database of each kind, for migration tests (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    with scratch_postgresql() as url:
        yield url


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """An empty scratch PostgreSQL database (dropped afterwards)."""
    with scratch_postgresql() as url:
        yield url


@contextmanager
def scratch_postgresql() -> Iterator[str]:
    name = f"miniapp_scratch_{secrets.token_hex(4)}"
    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_app(
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
) -> Iterator[MakeApp]:
    """``make_app(SECTION={...}, ...)``: an app on the session's services with these sections
    overridden (tests/integration/ops has its own, with an operator)."""
    with app_factory(
        app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    ) as make:
        yield make


@pytest.fixture(params=["gate", "flask"])
def served(request: pytest.FixtureRequest, make_app: MakeApp) -> Flask:
    """The app with admission on (the gate answers kept screens) or off (Flask does): for
    tests that hold both paths to the same answer."""
    return make_app() if request.param == "gate" else make_app(ENABLED=False)
