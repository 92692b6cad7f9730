"""Apps with an operator configured, on the suite's PostgreSQL, Redis and emulator.

Apps made in one test share their keys (as the workers of one deployment do), so a waiting-room
ticket or an encrypted row from one is good on the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from channels.emulator import RunningEmulator
from miniapp_api.wiring import EXTENSION_KEY
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp, app_factory
from tests.support.operators import new_operator, with_operator

OPERATOR = "alice"
INTERNAL_BIND = "127.0.0.1:9100"
# A request that came in on that listener, as gunicorn sets it from the socket. Pass it as
# environ_overrides: the test client writes SERVER_PORT over environ_base.
ON_INTERNAL_BIND = {"SERVER_PORT": "9100"}


def give_internal_bind(app: Flask, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``app`` (already made, e.g. the suite's shared one) with ``OPS.INTERNAL_BIND`` set for
    this test; the ``environ_overrides`` of a request on it (/metrics, /readyz as Prometheus
    and probes read them)."""
    wire = app.extensions[EXTENSION_KEY]
    ops = dataclasses.replace(wire.settings.ops, internal_bind=INTERNAL_BIND)
    settings = dataclasses.replace(wire.settings, ops=ops)
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, dataclasses.replace(wire, settings=settings))
    return ON_INTERNAL_BIND


@pytest.fixture(scope="session")
def operator() -> tuple[str, str]:
    """``(token, argon2 hash)`` of the operator ``alice``."""
    return new_operator(OPERATOR)


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
    with app_factory(with_operator(base, OPERATOR, operator[1])) as make:
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
