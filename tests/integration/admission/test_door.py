"""The gunicorn worker's door: a full thread pool answers 503 at once, without parsing."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

from flask import Flask

from miniapp_api.admission.door import SheddingThreadWorker, door_of
from miniapp_api.admission.install import gate_of
from miniapp_api.wiring import wiring_of


class FakePool:
    def __init__(self) -> None:
        self.submitted: list[Any] = []

    def submit(self, fn: Any, conn: Any) -> Any:
        self.submitted.append(conn)

        class Pending:
            def add_done_callback(self, callback: Any) -> None:
                pass

        return Pending()


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


def worker_for(app: Flask, *, in_pool: int, max_in_pool: int) -> SheddingThreadWorker:
    """The worker's door logic around a real app, without starting gunicorn."""
    worker = object.__new__(SheddingThreadWorker)
    found = door_of(app)
    assert found is not None
    worker.gate, worker.rejections = found
    worker.in_pool, worker.max_in_pool = in_pool, max_in_pool
    worker.nr_conns = 5
    worker.critical_queue = 0
    worker.tpool = FakePool()
    return worker


def test_a_full_pool_answers_the_contract_and_closes_without_reading_the_request(
    app: Flask,
) -> None:
    worker = worker_for(app, in_pool=4, max_in_pool=4)
    server_side, client_side = socket.socketpair()
    client_side.sendall(b"GET /api/v1/results HTTP/1.1\r\nHost: x\r\n\r\n")

    worker.enqueue_req(Conn(server_side))

    client_side.settimeout(2)
    answer = b""
    while chunk := client_side.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"Connection: close" in head
    assert b"Retry-After: " in head
    # A request id of ours (the request is not read, so none of the client's).
    assert re.search(rb"\r\nX-Request-ID: [0-9a-f]{32}\r\n", head)
    parsed = json.loads(body)
    assert parsed["detail"]["reason"] == "queue_full"
    assert {a["kind"] for a in parsed["detail"]["alternatives"]} >= {"saved_code", "h5_lookup"}
    assert worker.nr_conns == 4  # the connection is gone from the worker's count
    assert worker.tpool.submitted == []  # type: ignore[attr-defined]
    client_side.close()


def test_below_the_bound_requests_go_to_the_threads(app: Flask) -> None:
    worker = worker_for(app, in_pool=3, max_in_pool=4)
    server_side, client_side = socket.socketpair()
    conn = Conn(server_side)

    worker.enqueue_req(conn)

    assert worker.tpool.submitted == [conn]  # type: ignore[attr-defined]
    assert worker.in_pool == 4
    server_side.close()
    client_side.close()


def test_the_door_finds_the_gate_by_name_and_stands_aside_for_other_apps(app: Flask) -> None:
    found = door_of(app)
    assert found is not None
    assert found == (gate_of(app), wiring_of(app).rejections)
    # The benchmark serves a bare Flask hello with this same worker class.
    assert door_of(Flask("hello")) is None


def test_without_admission_control_the_door_never_sheds(app: Flask) -> None:
    worker = worker_for(app, in_pool=100, max_in_pool=4)
    worker.gate = None  # OVERLOAD.ENABLED = false: plain gthread behaviour
    server_side, client_side = socket.socketpair()
    worker.enqueue_req(Conn(server_side))
    assert len(worker.tpool.submitted) == 1  # type: ignore[attr-defined]
    server_side.close()
    client_side.close()


def test_a_full_pool_still_takes_a_few_critical_requests_but_not_sheddable_ones(
    app: Flask,
) -> None:
    worker = worker_for(app, in_pool=4, max_in_pool=4)
    worker.critical_queue = 2
    lookup, history = socket.socketpair(), socket.socketpair()
    lookup[1].sendall(b"GET /api/v1/results HTTP/1.1\r\nHost: x\r\n\r\n")
    history[1].sendall(b"GET /api/v1/results/history HTTP/1.1\r\nHost: x\r\n\r\n")

    worker.enqueue_req(Conn(history[0]))
    critical = Conn(lookup[0])
    worker.enqueue_req(critical)

    assert worker.tpool.submitted == [critical]  # type: ignore[attr-defined]
    assert history[1].recv(12) == b"HTTP/1.1 503"
    assert lookup[0].recv(3, socket.MSG_PEEK) == b"GET"  # peeked, not consumed
    for sock in (*lookup, history[1]):
        sock.close()
