"""Every answer carries an ``X-Request-ID``, refusals included: the gate's 429 and 503 (answered
before Flask), the waiting room's 503, and Flask's 404, 405, 413 and 415. A sane id the client
sent is echoed; anything else is replaced by one of ours."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from miniapp_api.admission.install import gate_of
from miniapp_api.overload.controls import ControlsStore, Modes
from miniapp_api.wiring import wiring_of
from tests.support.apps import MakeApp
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import logged_in

OURS = re.compile(r"[0-9a-f]{32}")


def refused_by_quota(app: Flask) -> Callable[[dict[str, str]], TestResponse]:
    """The gate's 429: the caller's address has used its one request."""
    client = app.test_client()
    assert client.get("/api/v1/codes/keys").status_code == 200
    return lambda headers: client.get("/api/v1/codes/keys", headers=headers)


def refused_for_concurrency(app: Flask) -> Callable[[dict[str, str]], TestResponse]:
    """The gate's 503: every in-flight slot of the worker is taken."""

    def send(headers: dict[str, str]) -> TestResponse:
        gate = gate_of(app)
        assert gate is not None
        held = 0
        while gate.concurrency.try_acquire():
            held += 1
        try:
            return app.test_client().get("/api/v1/codes/keys", headers=headers)
        finally:
            for _ in range(held):
                gate.concurrency.release(0.001)

    return send


def waiting_room(app: Flask, phone: EmulatorPhone) -> Callable[[dict[str, str]], TestResponse]:
    """The view's 503: a profile write is given a place in the queue."""
    user = logged_in(app, phone)
    wire = wiring_of(app)
    store = ControlsStore(wire.redis, wire.settings.overload)
    store.save(store.load().limits, Modes(waiting_room_rate=1000.0), operator="test")
    body = {"name": "张三", "id_type": "cn_id", "id_number": cn_id()}
    return lambda headers: user.client.put(
        "/api/v1/me/profile", json=body, headers={**user.auth, **headers}
    )


def flask_refusal(app: Flask, kind: int) -> Callable[[dict[str, str]], TestResponse]:
    client = app.test_client()
    if kind == 404:
        return lambda headers: client.get("/api/v1/nothing-here", headers=headers)
    if kind == 405:
        return lambda headers: client.delete("/api/v1/results", headers=headers)
    if kind == 413:
        return lambda headers: client.post(
            "/api/v1/lookup",
            data=b"{" + b" " * 70_000 + b"}",
            headers=headers,
            content_type="application/json",
        )
    return lambda headers: client.post(
        "/api/v1/lookup", data="code", content_type="text/plain", headers=headers
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("quota", 429),
        ("concurrency", 503),
        ("waiting_room", 503),
        ("404", 404),
        ("405", 405),
        ("413", 413),
        ("415", 415),
    ],
)
def test_every_refusal_carries_a_request_id_and_echoes_a_sane_one(
    make_app: MakeApp, phone: EmulatorPhone, kind: str, status: int
) -> None:
    if kind == "quota":
        app = make_app(USER_RATE=0.01, USER_BURST=1)
        send = refused_by_quota(app)
    elif kind == "concurrency":
        app = make_app()
        send = refused_for_concurrency(app)
    elif kind == "waiting_room":
        app = make_app(CONTROLS_REFRESH_SECONDS=0.0)
        send = waiting_room(app, phone)
    else:
        app = make_app()
        send = flask_refusal(app, int(kind))

    echoed = send({"X-Request-ID": "client-req-0001"})
    replaced = send({"X-Request-ID": "bad id\u00e9"})
    none = send({})

    assert [echoed.status_code, replaced.status_code, none.status_code] == [status] * 3
    assert echoed.headers["X-Request-ID"] == "client-req-0001"
    assert OURS.fullmatch(replaced.headers["X-Request-ID"])
    assert OURS.fullmatch(none.headers["X-Request-ID"])
    assert none.headers["X-Request-ID"] != replaced.headers["X-Request-ID"]
