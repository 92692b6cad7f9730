"""Apps with an operator configured, on the suite's PostgreSQL, Redis and emulator.

Apps made in one test share their keys (as the workers of one deployment do), so a waiting-room
ticket or an encrypted row from one is good on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from channels.emulator import RunningEmulator
from miniapp_api.ops.auth import new_token
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp, app_factory
from tests.support.sensitive import TOKENS

OPERATOR = "alice"


@pytest.fixture(scope="session")
def operator() -> tuple[str, str]:
    """``(token, argon2 hash)`` of the operator ``alice``."""
    token, entry = new_token(OPERATOR)
    TOKENS.add(token)  # never in a log line (tests/test_no_leaks.py)
    return token, entry.token_hash


@pytest.fixture
def operator_auth(operator: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator[0]}"}


@pytest.fixture
def make_app(
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
    operator: tuple[str, str],
) -> Iterator[MakeApp]:
    """``make_app(CONTROLS_REFRESH_SECONDS=0, ...)``: an app whose OVERLOAD section is
    overridden, with ``alice`` as its operator."""
    base = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    base["OPS"] = {"OPERATORS": json.dumps([{"name": OPERATOR, "token_hash": operator[1]}])}
    with app_factory(base) as make:
        yield make


@pytest.fixture
def ops_app(make_app: MakeApp) -> Flask:
    """Re-reads the controls on every request, so a change applies to the very next one."""
    return make_app(CONTROLS_REFRESH_SECONDS=0.0)


@pytest.fixture
def ops_client(ops_app: Flask) -> FlaskClient:
    return ops_app.test_client()


def set_controls(
    client: FlaskClient, auth: dict[str, str], *, limits: dict[str, Any] | None = None, **modes: Any
) -> dict[str, Any]:
    """PUT the current limits (changed by ``limits``) with ``modes``; the saved controls."""
    current = client.get("/api/v1/ops/limits", headers=auth).get_json()
    body = {"limits": {**current["limits"], **(limits or {})}, "modes": modes}
    response = client.put("/api/v1/ops/limits", json=body, headers=auth)
    assert response.status_code == 200, response.get_json()
    saved: dict[str, Any] = response.get_json()
    return saved
