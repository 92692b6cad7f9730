"""Fixtures shared by every test layer.

Real services come from the environment with local defaults (CI has both running):
``MINIAPP_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) and
``MINIAPP_TEST_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask, Response
from flask.testing import FlaskClient

from channels.emulator import AlipayApp, EmulatorConfig, RunningEmulator, start_in_thread
from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem
from miniapp_api.clock import apply_process_timezone
from miniapp_api.logging import build_handler, quiet_noisy_loggers
from tests.support import sensitive
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def pytest_configure(config: pytest.Config) -> None:
    """Run in Beijing time, as create_app makes every server process do (miniapp_api/clock.py)."""
    apply_process_timezone("Asia/Shanghai")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``last`` check what the whole run produced, so they run after the rest."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session", autouse=True)
def captured_logs() -> Iterator[None]:
    """Write every log line of the run, formatted as in production, into a buffer too."""
    import logging

    handler = build_handler(sensitive.LOG_BUFFER)
    quiet_noisy_loggers()  # as create_app does; some tests never create an app
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)


REDIS_URL = os.environ.get("MINIAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = os.environ.get(
    "MINIAPP_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class PlatformKeys:
    """Credentials of our test apps, registered with the emulator."""

    wechat_app_id: str
    wechat_app_secret: str
    alipay_app_id: str
    alipay_app_private_key: str  # PKCS#8 PEM
    alipay_app_public_key: str
    alipay_aes_key: str  # base64 of 16 bytes
    alipay_platform_private_key: str
    alipay_platform_public_key: str


@pytest.fixture(scope="session")
def platform_keys() -> PlatformKeys:
    app_key = generate_rsa_private_key_pem()
    platform_key = generate_rsa_private_key_pem()
    return PlatformKeys(
        wechat_app_id="wx" + secrets.token_hex(8),
        wechat_app_secret=secrets.token_hex(16),
        alipay_app_id="2021" + str(secrets.randbelow(10**12)).zfill(12),
        alipay_app_private_key=app_key,
        alipay_app_public_key=public_key_pem(app_key),
        alipay_aes_key=base64.b64encode(secrets.token_bytes(16)).decode(),
        alipay_platform_private_key=platform_key,
        alipay_platform_public_key=public_key_pem(platform_key),
    )


@pytest.fixture(scope="session")
def emulator_server(platform_keys: PlatformKeys) -> Iterator[RunningEmulator]:
    """One emulator on a free loopback port for the whole run."""
    config = EmulatorConfig(
        wechat_apps={platform_keys.wechat_app_id: platform_keys.wechat_app_secret},
        alipay_apps={
            platform_keys.alipay_app_id: AlipayApp(
                platform_keys.alipay_app_public_key, platform_keys.alipay_aes_key
            )
        },
        alipay_platform_private_key=platform_keys.alipay_platform_private_key,
    )
    running = start_in_thread(config)
    yield running
    running.stop()


@pytest.fixture
def emulator(emulator_server: RunningEmulator) -> RunningEmulator:
    """The shared emulator, reset (codes, faults, messages) before each test."""
    emulator_server.app.extensions["emulator_state"].reset()
    return emulator_server


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The real Redis, test database flushed before and after."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# --- the app on real PostgreSQL, real Redis and the emulated platforms -----------------------


def code_signing_keys() -> str:
    """A fresh Ed25519 code-signing key, as MINIAPP_CODES__SIGNING_KEYS takes it."""
    return json.dumps([{"kid": "t1", "private_key": _keys_b64()}])


def _keys_b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def app_overrides(
    keys: PlatformKeys, emulator_url: str, database_url: str, redis_url: str
) -> dict[str, Any]:
    """Config overrides pointing the app at the given services and the emulator."""
    return {
        "DATABASE": {"URL": database_url},
        "REDIS": {"URL": redis_url, "SOCKET_TIMEOUT": 2.0, "CONNECT_TIMEOUT": 2.0},
        "SECURITY": {"DATA_KEY": _keys_b64(), "INDEX_KEY": _keys_b64()},
        "WECHAT": {
            "APP_ID": keys.wechat_app_id,
            "APP_SECRET": keys.wechat_app_secret,
            "API_BASE_URL": emulator_url,
            "TIMEOUT": 1.0,
        },
        "ALIPAY": {
            "APP_ID": keys.alipay_app_id,
            "APP_PRIVATE_KEY": keys.alipay_app_private_key,
            "ALIPAY_PUBLIC_KEY": keys.alipay_platform_public_key,
            "AES_KEY": keys.alipay_aes_key,
            "GATEWAY_URL": f"{emulator_url}/gateway.do",
            "TIMEOUT": 1.0,
        },
        "SIMULATOR": {"EMULATOR_URL": ""},
        "CODES": {"SIGNING_KEYS": code_signing_keys()},
        "NOTIFY": {"WECHAT_TEMPLATE_ID": WECHAT_TEMPLATE, "ALIPAY_TEMPLATE_ID": ALIPAY_TEMPLATE},
        # Admission control is on, as in production, with quotas no functional test reaches
        # (every test client is 127.0.0.1); tests/integration/admission sets real ones.
        "OVERLOAD": {"USER_RATE": 10_000.0, "USER_BURST": 10_000.0},
    }


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL, migrated to head, dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from miniapp_api.migrate import upgrade

    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    name = f"miniapp_test_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def session_app(
    platform_keys: PlatformKeys, emulator_server: RunningEmulator, postgres_url: str
) -> Iterator[Flask]:
    from miniapp_api import create_app

    app = create_app(
        app_overrides(platform_keys, emulator_server.base_url, postgres_url, REDIS_URL)
    )
    app.testing = True
    sensitive.remember(
        platform_keys.wechat_app_secret,
        platform_keys.alipay_aes_key,
        *secret_lines(platform_keys.alipay_app_private_key),
    )

    @app.after_request
    def record_response(response: Response) -> Response:
        if not response.direct_passthrough:
            sensitive.RESPONSES.append(
                str(dict(response.headers)) + response.get_data(as_text=True)
            )
        return response

    yield app
    app.extensions["miniapp"].db.dispose()
    app.extensions["miniapp"].redis.close()


def secret_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM private key (any one of them leaking is a leak)."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.fixture
def app(
    session_app: Flask, emulator: RunningEmulator, redis_client: redis.Redis
) -> Iterator[Flask]:
    """The app on PostgreSQL + Redis + emulator; tables emptied after each test."""
    yield session_app
    empty_tables(session_app)


def empty_tables(app: Flask) -> None:
    """Empty every table of the app's (PostgreSQL) database."""
    from sqlalchemy import text

    from miniapp_api.models import metadata

    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with app.extensions["miniapp"].db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def phone(emulator: RunningEmulator) -> EmulatorPhone:
    return EmulatorPhone(emulator.base_url)


@pytest.fixture
def wechat_user(client: FlaskClient, phone: EmulatorPhone) -> MiniProgramUser:
    return MiniProgramUser(client, phone, "wechat")


@pytest.fixture
def alipay_user(client: FlaskClient, phone: EmulatorPhone) -> MiniProgramUser:
    return MiniProgramUser(client, phone, "alipay")
