"""``GET /api/v1/ops/edge``: the front door's queue, refusals and nodes for the console, read
from a real HAProxy's metrics (rendered by ``write_config``), operators only, and a quick,
clear answer when that HAProxy is not there."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from miniapp_api.edge import write_config
from miniapp_api.settings import ConfigurationError
from tests.integration.edge.running import (
    DEADLINE,
    HAProxy,
    InBackground,
    get,
    running_haproxy,
    wait_for,
)
from tests.integration.ops.conftest import MakeApp
from tests.support.redis_servers import free_port

EDGE = "/api/v1/ops/edge"
CRITICAL = "/api/v1/results"
SHEDDABLE = "/api/v1/results/history"
# Refused on arrival when anything waits, unless critical; a slot not free in 1.5 s: 503.
QUEUES = {"QUEUE_SHEDDABLE": 0, "QUEUE_NORMAL": 0, "QUEUE_CRITICAL": 100}
# A critical request may use the whole burst: 1 + (3 - 1) + 0.1/s x 10 s = 4 per window.
QUOTA = {"USER_RATE": 0.1, "USER_BURST": 3.0}
ALLOWED = 4
NO_REFUSALS = {"queue_full": 0, "queue_timeout": 0, "quota": 0, "node_failed": 0}


@dataclass
class Node:
    """An app node stand-in: answers /healthz; ``?hold`` waits for :meth:`release`,
    ``?status=N`` answers N, ``?die`` hangs up without an answer, anything else 200."""

    arrived: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _released: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self._released.release()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        status = 200
        if path != "/healthz":
            self.arrived.append(path)
        if path.endswith("?die"):
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if path.endswith("?hold"):
            self._released.acquire(timeout=DEADLINE * 3)
        if "?status=" in path:
            status = int(path.rsplit("=", 1)[1])
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"{}")

    def stop(self) -> None:
        """The node's machine is gone: its port refuses connections."""
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def node() -> Iterator[Node]:
    found = Node()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            found.answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # health checks and the node that "dies" hang up mid-answer

    found.server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.release()
        found.server.shutdown()
        found.server.server_close()


@dataclass(frozen=True)
class Edge:
    haproxy: HAProxy
    listen: str
    metrics_url: str


@pytest.fixture
def start_edge(make_app: MakeApp, tmp_path: Path) -> Any:
    """``with start_edge(nodes) as edge``: HAProxy with one-slot nodes and its stats port,
    rendered from an app with the quota and queue limits above."""

    @contextmanager
    def start(nodes: list[str]) -> Iterator[Edge]:
        app = make_app(sections={"EDGE": {**QUEUES, "QUEUE_TIMEOUT_MS": 1500}}, **QUOTA)
        listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        out = Path(str(tmp_path)) / "edge"  # short: the admin socket's path fits 108 bytes
        config = write_config(app, listen=listen, nodes=nodes, threads=1, stats=stats, out=out)
        with running_haproxy(config) as haproxy:
            yield Edge(haproxy, listen, f"http://{stats}/metrics")

    return start


def console(make_app: MakeApp, url: str) -> FlaskClient:
    """The app an operator's console talks to, reading the edge at ``url``."""
    return make_app(sections={"OPS": {"EDGE_METRICS_URL": url}}).test_client()


def edge_of(client: FlaskClient, auth: dict[str, str]) -> dict[str, Any]:
    answer = client.get(EDGE, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    found: dict[str, Any] = answer.get_json()
    return found


def send_malformed(listen: str) -> bytes:
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as conn:
        conn.sendall(b"NOT\x01HTTP /\r\n\r\n")
        return conn.recv(64)


def test_the_route_counts_the_queue_and_what_the_edge_refused_itself(
    start_edge: Any, make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    with node() as app_node, start_edge([app_node.address]) as edge:
        client = console(make_app, edge.metrics_url)
        before = edge_of(client, operator_auth)

        holder, queued = InBackground(), InBackground()
        holder.get(edge.listen, f"{CRITICAL}?hold", source="127.0.0.2")
        wait_for(lambda: len(app_node.arrived) == 1, "a request to hold the node's one slot")
        queued.get(edge.listen, CRITICAL, source="127.0.0.3")
        wait_for(lambda: edge.haproxy.queued() == 1, "a critical request to wait")
        waiting = edge_of(client, operator_auth)
        at_the_door = get(edge.listen, SHEDDABLE, source="127.0.0.4")
        timed_out = queued.answers()[CRITICAL]  # 1.5 s in the queue
        app_node.release()
        assert holder.answers()[f"{CRITICAL}?hold"].status == 200

        over_quota = [get(edge.listen, CRITICAL, source="127.0.0.5") for _ in range(ALLOWED + 2)]
        # The node's own answers pass through the edge: not the edge's refusals.
        own = [get(edge.listen, f"{CRITICAL}?status={s}", source="127.0.0.6") for s in (503, 429)]
        died = get(edge.listen, f"{CRITICAL}?die", source="127.0.0.7")
        malformed = send_malformed(edge.listen)
        after = edge_of(client, operator_auth)

    assert (at_the_door.status, timed_out.status) == (503, 503)
    assert [a.status for a in over_quota] == [200] * ALLOWED + [429, 429]
    assert [a.status for a in own] == [503, 429]
    assert died.status == 502
    assert malformed.startswith(b"HTTP/1.1 400")

    assert before["configured"] is True
    assert before["available"] is True
    assert before["problem"] == ""
    assert before["refused"] == NO_REFUSALS
    [backend] = before["backends"]  # the stick-table backends have no nodes: not listed
    assert backend == {
        "name": "app",
        "queue": 0,
        "queue_max": 0,
        "slots": 1,
        "nodes": [{"name": "node1", "state": "UP", "check": "L7OK", "sessions": 0, "limit": 1}],
    }
    assert waiting["backends"][0]["queue"] == 1
    assert waiting["backends"][0]["nodes"][0]["sessions"] == 1
    assert after["backends"][0]["queue"] == 0
    assert after["backends"][0]["queue_max"] == 1
    # One of each refusal; the node's 503 and 429, and HAProxy's 400, are none of them.
    assert after["refused"] == {"queue_full": 1, "queue_timeout": 1, "quota": 2, "node_failed": 1}


def test_a_node_that_stops_answering_is_shown_down(
    start_edge: Any, make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    with node() as first, node() as second, start_edge([first.address, second.address]) as edge:
        client = console(make_app, edge.metrics_url)
        both = edge_of(client, operator_auth)["backends"][0]
        second.stop()

        def node2() -> dict[str, Any]:
            nodes = edge_of(client, operator_auth)["backends"][0]["nodes"]
            found: dict[str, Any] = nodes[1]
            return found

        wait_for(lambda: node2()["state"] == "DOWN", "HAProxy's health checks to fail (4 s)")
        down = node2()

    assert [(n["name"], n["state"]) for n in both["nodes"]] == [("node1", "UP"), ("node2", "UP")]
    assert both["slots"] == 2
    assert down["check"] == "L4CON"  # connection refused


@contextmanager
def silent_port() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("refused", "cannot connect"),
        ("silent", "no answer within 0.5 s"),
        ("unresolvable", ""),  # a hung resolver would be "no answer", a quick one "cannot"
    ],
)
def test_an_edge_that_does_not_answer_gets_a_quick_clear_answer(
    make_app: MakeApp, operator_auth: dict[str, str], where: str, problem: str
) -> None:
    with silent_port() as silent:
        host = {
            "refused": f"127.0.0.1:{free_port()}",
            "silent": silent,
            "unresolvable": "edge.invalid:8404",
        }[where]
        client = console(make_app, f"http://{host}/metrics")
        started = time.monotonic()
        found = edge_of(client, operator_auth)
        took = time.monotonic() - started

    assert took < 1.0
    assert (found["configured"], found["available"]) == (True, False)
    assert problem in found["problem"]
    assert found["problem"]
    assert (found["backends"], found["refused"]) == ([], None)


def test_a_page_that_is_not_the_metrics_is_named_as_such(
    start_edge: Any, make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    with node() as app_node, start_edge([app_node.address]) as edge:
        stats_page = edge.metrics_url.replace("/metrics", "/stats")
        found = edge_of(console(make_app, stats_page), operator_auth)

    assert found["available"] is False
    assert found["problem"] == "the answer holds none of HAProxy's metrics"


def test_without_the_setting_the_route_says_the_edge_is_not_configured(
    make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    found = edge_of(make_app().test_client(), operator_auth)

    assert found == {
        "configured": False,
        "available": False,
        "problem": "",
        "backends": [],
        "refused": None,
    }


def test_only_operators_see_the_edge(make_app: MakeApp, operator: tuple[str, str]) -> None:
    client = console(make_app, f"http://127.0.0.1:{free_port()}/metrics")
    token = operator[0]

    answers = [
        client.get(EDGE),
        client.get(EDGE, headers={"Authorization": f"Bearer {token[:-2]}xx"}),
    ]

    assert {a.status_code for a in answers} == {401}
    body = answers[0].get_json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == "operator_unauthorized"


@pytest.mark.parametrize("url", ["ftp://10.0.0.1/metrics", "10.0.0.1:8404/metrics", "http://"])
def test_the_setting_must_be_an_http_url(make_app: MakeApp, url: str) -> None:
    with pytest.raises(ConfigurationError, match="MINIAPP_OPS__EDGE_METRICS_URL"):
        make_app(sections={"OPS": {"EDGE_METRICS_URL": url}})
