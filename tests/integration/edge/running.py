"""A real HAProxy on a rendered config, and a backend whose slots a test opens one at a time."""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import http.client
import io
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEADLINE = 20.0  # seconds a wait may take before the test gives up (never asserted on)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def wait_for(check: Any, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@dataclass
class HAProxy:
    config: Path
    process: subprocess.Popen[bytes]

    @property
    def socket_path(self) -> Path:
        return self.config.parent / "haproxy.sock"

    def command(self, line: str) -> str:
        """One Runtime API command on the admin socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(self.socket_path))
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stat(self, proxy: str, name: str) -> dict[str, str]:
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return next(r for r in rows if r["pxname"] == proxy and r["svname"] == name)

    def queued(self) -> int:
        return int(self.stat("app", "BACKEND")["qcur"] or 0)


@contextmanager
def running_haproxy(config: Path) -> Iterator[HAProxy]:
    """HAProxy on ``config`` until the block ends; its nodes are up when the block starts."""
    log = (config.parent / "haproxy.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (our own rendered config)
        ["haproxy", "-W", "-db", "-f", str(config)],  # noqa: S607 (Debian's haproxy on PATH)
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    haproxy = HAProxy(config, process)
    try:
        wait_for(lambda: haproxy.socket_path.exists() or process.poll() is not None, "haproxy")
        assert process.poll() is None, (config.parent / "haproxy.log").read_text()

        def nodes_up() -> bool:
            try:
                return all(
                    r["status"] == "UP"
                    for r in csv.DictReader(io.StringIO(haproxy.command("show stat").lstrip("# ")))
                    if r["pxname"] == "app" and r["svname"] not in ("FRONTEND", "BACKEND")
                )
            except OSError:
                return False

        wait_for(nodes_up, "the app nodes to be up")
        yield haproxy
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class HeldBackend:
    """An app node stand-in: answers /healthz (the health check) at once, holds every other
    request until :meth:`release` (when ``hold``), and records the order requests arrive in."""

    hold: bool = True
    arrived: list[str] = field(default_factory=list)
    forwarded_for: list[str | None] = field(default_factory=list)
    _released: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def release(self, count: int = 1) -> None:
        self._released.release(count)

    def arrivals(self) -> int:
        with self._lock:
            return len(self.arrived)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path != "/healthz":
            with self._lock:
                self.arrived.append(handler.path)
                self.forwarded_for.append(handler.headers.get("X-Forwarded-For"))
            if self.hold:
                self._released.acquire(timeout=DEADLINE * 3)
        body = json.dumps({"path": handler.path}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@contextmanager
def held_backend(*, hold: bool = True) -> Iterator[HeldBackend]:
    backend = HeldBackend(hold=hold)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            backend._handle(self)

        do_POST = do_GET  # noqa: N815 (http.server's naming)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # HAProxy's health checks hang up without reading the answer

    backend.server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=backend.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        backend.release(1000)  # nothing stays held
        backend.server.shutdown()
        backend.server.server_close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(
    listen: str, path: str, *, headers: dict[str, str] | None = None, source: str = "127.0.0.1"
) -> Answer:
    host, port = listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(
        host, int(port), timeout=DEADLINE * 3, source_address=(source, 0)
    )
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


class InBackground:
    """Requests sent from threads; :meth:`answers` waits for all of them."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._answers: dict[str, Answer | BaseException] = {}

    def get(self, listen: str, path: str, **kwargs: Any) -> None:
        def send() -> None:
            try:
                self._answers[path] = get(listen, path, **kwargs)
            except BaseException as exc:  # reported by answers()
                self._answers[path] = exc

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        self._threads.append(thread)

    def answers(self) -> dict[str, Answer]:
        for thread in self._threads:
            thread.join(DEADLINE * 3)
        found: dict[str, Answer] = {}
        for path, answer in self._answers.items():
            if isinstance(answer, BaseException):
                raise answer
            found[path] = answer
        return found


def assert_contract(answer: Answer, *, status: int, code: str, reason: str) -> None:
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert len(answer.body) < 1024
    doc = answer.json()
    assert set(doc) == {"code", "message", "detail"}
    assert doc["code"] == code
    assert doc["detail"]["reason"] == reason
    assert doc["detail"]["retry_after"] == int(answer.headers["retry-after"]) >= 1
    kinds = [a["kind"] for a in doc["detail"]["alternatives"]]
    assert kinds[0] == "saved_code"
    assert kinds[-1] == "push"
