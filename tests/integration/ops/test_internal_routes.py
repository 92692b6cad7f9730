"""``/metrics``, ``/readyz`` and ``/openapi.json``: the internal listener or an operator token;
``/healthz`` for anyone, without I/O."""

from __future__ import annotations

import pytest
from flask import Flask

from miniapp_api.ops.internal import arrived_on
from tests.integration.ops.conftest import INTERNAL_BIND
from tests.integration.ops.conftest import ON_INTERNAL_BIND as ON_INTERNAL
from tests.support.apps import MakeApp

ON_PUBLIC = {"SERVER_PORT": "8000"}
GUARDED = ("/metrics", "/readyz", "/openapi.json")


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    """An app as production runs it: an internal listener, the document not public."""
    return make_app(sections={"OPS": {"INTERNAL_BIND": INTERNAL_BIND, "PUBLIC_DOCS": False}})


@pytest.mark.parametrize("path", GUARDED)
def test_a_public_request_without_an_operator_token_is_refused(app: Flask, path: str) -> None:
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer alice.not-the-token"}):
        response = client.get(path, headers=headers, environ_overrides=ON_PUBLIC)
        assert response.status_code == 401, path
        assert response.get_json()["code"] == "operator_unauthorized"


@pytest.mark.parametrize("path", GUARDED)
def test_an_operator_token_reads_them_on_the_public_bind(
    app: Flask, operator_auth: dict[str, str], path: str
) -> None:
    client = app.test_client()
    response = client.get(path, headers=operator_auth, environ_overrides=ON_PUBLIC)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert client.get(path, environ_overrides=ON_PUBLIC).status_code == 401  # the token did it


@pytest.mark.parametrize("path", GUARDED)
def test_the_internal_bind_answers_without_a_token(app: Flask, path: str) -> None:
    client = app.test_client()
    response = client.get(path, environ_overrides=ON_INTERNAL)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert client.get(path, environ_overrides=ON_PUBLIC).status_code == 401  # the port did it


def test_readiness_on_the_internal_bind_checks_the_database_redis_and_migrations(
    app: Flask,
) -> None:
    answer = app.test_client().get("/readyz", environ_overrides=ON_INTERNAL).get_json()
    expected = {"database": "ok", "redis": "ok", "migrations": "ok"}
    assert answer == {"status": "ready", "checks": expected}


def test_without_an_internal_bind_no_port_is_internal(make_app: MakeApp) -> None:
    app = make_app(sections={"OPS": {"PUBLIC_DOCS": False}})
    client = app.test_client()
    for path in GUARDED:
        assert client.get(path, environ_overrides=ON_INTERNAL).status_code == 401, path


def test_the_port_a_proxy_claims_does_not_make_a_request_internal() -> None:
    # ProxyFix keeps what it rewrote; the listener's own port is the one that counts.
    rewritten = {"SERVER_PORT": "9100", "werkzeug.proxy_fix.orig": {"SERVER_PORT": "8000"}}
    assert not arrived_on(rewritten, "9100")
    assert arrived_on({"SERVER_PORT": "9100"}, "9100")
    assert not arrived_on({"SERVER_PORT": "9100"}, None)


def test_healthz_is_public_and_touches_neither_redis_nor_the_database(
    make_app: MakeApp,
) -> None:
    # Nothing listens on this Redis, and the database is never asked: still 200 at once.
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    dispose = app.extensions["miniapp"].db.engine
    response = app.test_client().get("/healthz", environ_overrides=ON_PUBLIC)
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert dispose.pool.checkedout() == 0


def test_public_docs_leave_only_the_document_open(make_app: MakeApp) -> None:
    app = make_app(sections={"OPS": {"PUBLIC_DOCS": True}})
    client = app.test_client()
    assert client.get("/openapi.json", environ_overrides=ON_PUBLIC).status_code == 200
    assert client.get("/metrics", environ_overrides=ON_PUBLIC).status_code == 401
    assert client.get("/readyz", environ_overrides=ON_PUBLIC).status_code == 401
