"""A gunicorn worker that refuses at the door when its threads are all taken.

gunicorn's gthread worker hands every readable connection to a thread pool whose queue has no
bound. Under overload the requests wait *there*, before any code of ours runs: the admission
gate saw healthy latencies while clients waited seconds, and its fast refusals were as late as
everything else (bench/overload.py measured rejections at ~1 s p99 that way).

:class:`SheddingThreadWorker` bounds that queue. When ``threads + max_queued`` requests are
already in the pool, the next readable connection is answered on the worker's main thread,
without parsing the request: the usual 503 contract (``reason: "queue_full"``, a jittered
``Retry-After``, the alternatives and a new ``X-Request-ID``), then the connection is closed.
Critical requests keep ``critical_queue`` more places: the door peeks at the request line
(``MSG_PEEK``, nothing is consumed) and classifies it as the gate would, so sheddable traffic
is turned away first.
Shedding costs tens of microseconds instead of a request's worth of parsing and dispatching,
so a worker at 10x its capacity still spends its CPU on the requests it admitted.

Used by ``config/gunicorn.conf.py``; only when the app has admission control on (the
benchmark's unprotected baseline gets plain gthread behaviour).
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any

from flask import Flask
from gunicorn.workers.gthread import ThreadWorker

from miniapp_api.admission.gate import AdmissionGate
from miniapp_api.admission.install import gate_of
from miniapp_api.api import TrafficClass
from miniapp_api.logging import REQUEST_ID_HEADER, request_id_from
from miniapp_api.overload import metrics
from miniapp_api.overload.rejection import Rejection
from miniapp_api.overload.renderer import RejectionRenderer
from miniapp_api.wiring import wiring_of

QUEUE_FULL = Rejection(503, "queue_full", 1.0)


class SheddingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread with at most ``threads + MINIAPP_MAX_QUEUED`` (default 2 x threads) requests in
    its pool, plus ``MINIAPP_CRITICAL_QUEUE`` critical ones."""

    def init_process(self) -> None:
        self.in_pool = 0  # submitted and not finished; touched on the main thread only
        queued = int(os.environ.get("MINIAPP_MAX_QUEUED", str(self.cfg.threads)))
        self.max_in_pool = self.cfg.threads + queued
        self.critical_queue = int(os.environ.get("MINIAPP_CRITICAL_QUEUE", "4"))
        self.gate: AdmissionGate | None = None
        self.rejections: RejectionRenderer | None = None
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        found = door_of(self.wsgi)
        if found is not None:
            self.gate, self.rejections = found

    def enqueue_req(self, conn: Any) -> None:
        if self.gate is not None and self.in_pool >= self.max_in_pool:
            room_for_critical = self.in_pool < self.max_in_pool + self.critical_queue
            if not (room_for_critical and self._is_critical(conn)):
                self.shed(conn)
                return
        self.in_pool += 1
        future = self.tpool.submit(self.handle, conn)
        future.add_done_callback(lambda done: self.method_queue.defer(self._finished, conn, done))

    def _is_critical(self, conn: Any) -> bool:
        """Peek at the request line; a connection with nothing to read yet is not critical."""
        assert self.gate is not None
        try:
            head = conn.sock.recv(1024, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            return False
        line = head.partition(b"\r\n")[0]
        return self.gate.classifier.classify_line(line).traffic is TrafficClass.CRITICAL

    def _finished(self, conn: Any, future: Future[Any]) -> None:
        self.in_pool -= 1
        self.finish_request(conn, future)

    def shed(self, conn: Any) -> None:
        """Answer 503 with the contract and close, on the main thread, reading nothing."""
        assert self.rejections is not None
        status, headers, body = self.rejections.render(QUEUE_FULL, "other")
        sent = {**headers, REQUEST_ID_HEADER: request_id_from("")}  # the request is not read
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in sent.items()
        )
        sock: socket.socket = conn.sock
        try:
            sock.setblocking(False)
            _drain(sock)  # unread request bytes would turn our close into a reset
            sock.send(head.encode() + b"Connection: close\r\n\r\n" + body)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client went away; nothing to tell
        finally:
            self.nr_conns -= 1
            sock.close()
        metrics.count("unknown", "other", "rejected", QUEUE_FULL.reason)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def door_of(app: object) -> tuple[AdmissionGate, RejectionRenderer] | None:
    """What the door needs of the app it serves, found by name in ``app.extensions``: the gate
    (to classify a request line) and the rejection renderer. None, so plain gthread behaviour,
    for any other WSGI app or ours with admission control off."""
    if not isinstance(app, Flask):
        return None
    gate = gate_of(app)
    return None if gate is None else (gate, wiring_of(app).rejections)
