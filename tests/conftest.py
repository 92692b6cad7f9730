"""Fixtures shared by every test layer.

Real services come from the environment with local defaults (CI has both running):
``MINIAPP_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) and
``MINIAPP_TEST_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from channels.emulator import AlipayApp, EmulatorConfig, RunningEmulator, start_in_thread
from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem

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
