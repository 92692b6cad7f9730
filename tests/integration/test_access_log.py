"""The access line of a request through the app: the client as the rate limits see it
(behind a trusted proxy, the address it forwards), and no line for an answered health probe
unless ``[LOGGING] PROBES`` asks for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from miniapp_api.wiring import wiring_of
from tests.integration.ops.conftest import give_internal_bind
from tests.support.apps import MakeApp
from tests.support.logs import Lines, access_lines_written

BALANCER = {"REMOTE_ADDR": "10.0.0.2"}
FORWARDED = {"X-Forwarded-For": "203.0.113.7"}


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    """The access lines written while the test runs, as the production handler writes them."""
    with access_lines_written() as lines:
        yield lines


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(
    make_app: MakeApp, access_lines: Lines
) -> None:
    app = make_app(sections={"APP": {"TRUSTED_PROXIES": 1}})

    response = app.test_client().get("/api/v1/legal", headers=FORWARDED, environ_base=BALANCER)

    assert response.status_code == 200
    (line,) = access_lines()
    assert line["client"] == "203.0.113.7"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/legal", 200)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(line["duration_ms"], float)


def test_from_a_peer_not_trusted_the_client_is_the_peer(app: Flask, access_lines: Lines) -> None:
    # The suite's app trusts no proxy (APP.TRUSTED_PROXIES = 0): a forged header is ignored.
    response = app.test_client().get("/api/v1/legal", headers=FORWARDED, environ_base=BALANCER)

    assert response.status_code == 200
    (line,) = access_lines()
    assert line["client"] == "10.0.0.2"


def test_an_answered_probe_writes_no_access_line_by_default(
    app: Flask, access_lines: Lines
) -> None:
    client = app.test_client()

    probed = client.get("/healthz")
    client.get("/api/v1/legal")

    assert probed.status_code == 200
    assert probed.headers["X-Request-ID"], "still given a request id"
    assert [line["path"] for line in access_lines()] == ["/api/v1/legal"]


def test_with_probes_on_an_answered_probe_is_logged(
    make_app: MakeApp, access_lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As an operator turns it on: the environment, over config/default.toml's false.
    monkeypatch.setenv("MINIAPP_LOGGING__PROBES", "true")
    app = make_app()

    probed = app.test_client().get("/healthz", environ_base=BALANCER)

    assert probed.status_code == 200
    assert [(line["path"], line["status"], line["client"]) for line in access_lines()] == [
        ("/healthz", 200, "10.0.0.2")
    ]


def test_a_failed_probe_is_logged_by_default(
    app: Flask, access_lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    internal = give_internal_bind(app, monkeypatch)

    def unreachable() -> bool:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(wiring_of(app).redis, "ping", unreachable)
    client = app.test_client()

    not_ready = client.get("/readyz", environ_overrides=internal)
    ready_elsewhere = client.get("/healthz")
    refused = client.get("/metrics")  # the public bind, no operator token

    assert (not_ready.status_code, ready_elsewhere.status_code, refused.status_code) == (
        503,
        200,
        401,
    )
    assert [(line["path"], line["status"]) for line in access_lines()] == [
        ("/readyz", 503),
        ("/metrics", 401),
    ]
