"""A node that fails mid-request, or does not answer in time, reaches the client as our
contract (502/504, ``temporarily_unavailable``), not as HAProxy's HTML error page: a
mini-program parses every answer of ours the same way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration.edge.conftest import StartEdge
from tests.integration.edge.running import assert_contract, get


@contextmanager
def failing_backend(*, stall_seconds: float) -> Iterator[str]:
    """A node stand-in: healthy on /healthz; ``/die`` hangs up without an answer (a worker
    killed mid-request), ``/stall`` answers only after ``stall_seconds``, anything else 200."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.startswith("/die"):
                self.close_connection = True
                return  # nothing written: HAProxy sees the connection close
            if self.path.startswith("/stall"):
                stop.wait(stall_seconds)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # HAProxy hangs up on the stalled request first

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_a_node_that_hangs_up_mid_request_gives_a_502_in_our_contract(
    start_edge: StartEdge,
) -> None:
    with failing_backend(stall_seconds=0) as node, start_edge([node]) as (_, listen):
        answer = get(listen, "/die", headers={"Authorization": "Bearer a_x.wechat.secret"})
        assert get(listen, "/fine").status == 200  # the node is still in the rotation

    assert_contract(answer, status=502, code="temporarily_unavailable", reason="node_failed")
    assert answer.json()["detail"]["alternatives"][1]["platform"] == "alipay"


def test_a_node_that_does_not_answer_in_time_gives_a_504_in_our_contract(
    start_edge: StartEdge,
) -> None:
    edge = {"SERVER_TIMEOUT": "500ms"}
    with (
        failing_backend(stall_seconds=5) as node,
        start_edge([node], edge=edge) as (_, listen),
    ):
        answer = get(listen, "/stall", headers={"Authorization": "Bearer a_x.alipay.secret"})

    assert_contract(answer, status=504, code="temporarily_unavailable", reason="node_failed")
    assert answer.json()["detail"]["alternatives"][1]["platform"] == "wechat"
