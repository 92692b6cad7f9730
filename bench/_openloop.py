"""An open-loop HTTP/1.1 load generator on asyncio: arrivals on a schedule, never on answers.

Every request has an *intended* send time fixed before the run (Poisson arrivals per stream),
and its latency is measured from that time, not from when a connection happened to be free:
a server that stalls is charged for the whole wait (no coordinated omission). Each request
has a deadline (1 s by default); at the deadline its connection is aborted and the request
counts as a timeout, as a mini-program's ``wx.request`` gives up.

Built to offer ~10,000 requests/s from one CPU: protocol callbacks rather than a coroutine per
request, request bytes made before the clock starts, responses parsed only as far as the
status line and ``Content-Length``, one pacing loop that sends every request that is due
(about once a millisecond), deadlines kept in one FIFO (intended times only grow, so the
oldest deadline is always at the front). Keep-alive connections are reused newest first (only
by requests from the same source address, when a stream sends from several); a request that
finds none idle opens another, up to ``max_connections``; beyond that it waits for one to
come free, and if its deadline passes first it counts as ``noconn`` (the client
could not even send). How late the generator itself sent (its own CPU falling behind) is
measured apart, so a run whose generator was the bottleneck says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

from _openloop_schedule import LOOPBACK, Schedule

# Outcomes other than an HTTP status (statuses are 100..599).
PENDING, TIMEOUT, CONN, NOCONN = 0, 1, 2, 3
OUTCOME_NAMES = {TIMEOUT: "timeout", CONN: "conn", NOCONN: "noconn"}
# A connection idle for longer than this is closed rather than reused: gunicorn closes idle
# keep-alive connections after 5 s, and a request written into one it is closing is lost.
IDLE_REUSE_SECONDS = 3.0
SWEEP_SECONDS = 0.002
MIN_SLEEP_SECONDS = 0.001


@dataclass
class Outcome:
    """What became of each scheduled request (indexes as in the schedule)."""

    schedule: Schedule
    status: list[int]  # HTTP status, or TIMEOUT / CONN / NOCONN
    done: list[float]  # seconds from the start; for failures, when they were given up
    lag: list[float]  # when the generator got to it - intended send time (its lateness), s
    deadline: float
    connections_opened: int = 0
    peak_connections: int = 0
    waited_for_connection: int = 0
    cpu_seconds: float = 0.0  # the generator's own CPU over the run
    wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def latency(self, i: int) -> float:
        return self.done[i] - self.schedule.at[i]


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time."""

    def __init__(self, gen: OpenLoop, source: str) -> None:
        self.gen = gen
        self.source = source  # the local address it is bound to
        self.transport: asyncio.Transport | None = None
        self.slot = -1  # the schedule index in flight, or -1
        self.buf = b""
        self.need = -1  # bytes of the whole response once the head is parsed
        self.status = 0
        self.close_after = False
        self.idle_since = 0.0
        self.closed = False
        self.task: asyncio.Task[object] | None = None

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        if self.slot >= 0:
            self.transport.write(self.gen.schedule.payload[self.slot])

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end]
            self.status = int(buf[9:12])
            at = head.find(b"Content-Length:")
            if at < 0:
                head = head.lower()
                at = head.find(b"content-length:")
            length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
            self.close_after = b"onnection: close" in head or b"onnection: Close" in head
            self.need = end + 4 + length
        if len(buf) < self.need:
            self.buf = buf
            return
        self.buf, self.need = b"", -1
        slot, self.slot = self.slot, -1
        if slot >= 0:
            self.gen.finish(slot, self.status)
        if self.close_after:
            self.abort()
        else:
            self.gen.release(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.gen.forget(self)
        if self.slot >= 0:
            slot, self.slot = self.slot, -1
            self.gen.finish(slot, CONN)

    # --- ours
    def send(self, slot: int) -> None:
        self.slot = slot
        if self.transport is not None:
            self.transport.write(self.gen.schedule.payload[slot])

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.gen.forget(self)
        if self.transport is not None:
            self.transport.abort()
        elif self.task is not None:
            self.task.cancel()


class OpenLoop:
    """Runs one :class:`Schedule` against ``port`` on loopback; see the module docstring."""

    def __init__(
        self,
        port: int,
        schedule: Schedule,
        deadline: float = 1.0,
        max_connections: int = 4000,
    ) -> None:
        n = len(schedule.at)
        self.port, self.schedule = port, schedule
        self.deadline, self.max_connections = deadline, max_connections
        self.status = [PENDING] * n
        self.done = [0.0] * n
        self.lag = [0.0] * n
        self.idle: dict[str, list[_Conn]] = {}  # by source address
        self.waiting: deque[int] = deque()  # slots waiting for a connection
        self.in_flight: deque[tuple[float, int, _Conn]] = deque()  # (deadline, slot, conn)
        self.open = 0  # connections open or being opened
        self.opened = 0
        self.peak = 0
        self.waited = 0  # requests that found every connection busy and the cap reached
        self.start = 0.0
        self.unfinished = n
        self.loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        return time.monotonic() - self.start

    # --- called by connections
    def finish(self, slot: int, status: int) -> None:
        if self.status[slot] == PENDING:
            self.status[slot] = status
            self.done[slot] = self.now()
            self.unfinished -= 1

    def release(self, conn: _Conn) -> None:
        while self.waiting:
            slot = self.waiting.popleft()
            if self.status[slot] == PENDING:
                if self.schedule.source[slot] == conn.source:
                    self._send_on(conn, slot)
                else:  # another client's request: this one hangs up, that one dials
                    conn.abort()
                    self._open(slot)
                return
        conn.idle_since = time.monotonic()
        self.idle.setdefault(conn.source, []).append(conn)

    def forget(self, conn: _Conn) -> None:
        self.open -= 1
        # A closed connection may still be in ``idle``; _idle_conn skips it.

    # --- the run
    def _idle_conn(self, source: str) -> _Conn | None:
        too_old = time.monotonic() - IDLE_REUSE_SECONDS
        idle = self.idle.get(source)
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if conn.idle_since < too_old:
                conn.abort()
                continue
            return conn
        return None

    def _send_on(self, conn: _Conn, slot: int) -> None:
        self.in_flight.append((self.schedule.at[slot] + self.deadline, slot, conn))
        conn.send(slot)

    def _dispatch(self, slot: int) -> None:
        self.lag[slot] = self.now() - self.schedule.at[slot]
        conn = self._idle_conn(self.schedule.source[slot])
        if conn is not None:
            self._send_on(conn, slot)
            return
        if self.open >= self.max_connections:
            self.waited += 1
            self.waiting.append(slot)
            return
        self._open(slot)

    def _open(self, slot: int) -> None:
        """A new connection (from the request's source address) carrying ``slot``."""
        assert self.loop is not None
        conn = _Conn(self, self.schedule.source[slot])
        self.open += 1
        self.opened += 1
        self.peak = max(self.peak, self.open)
        self._send_on(conn, slot)
        conn.task = self.loop.create_task(self._connect(conn))

    async def _connect(self, conn: _Conn) -> None:
        """Open ``conn``; if that fails (or it is aborted first), its request failed."""
        assert self.loop is not None
        # Bound only when it is not the default, so a run without sources connects as before.
        local = None if conn.source == LOOPBACK else (conn.source, 0)
        try:
            await self.loop.create_connection(lambda: conn, LOOPBACK, self.port, local_addr=local)
        except (OSError, asyncio.CancelledError):
            self._connect_failed(conn)
        finally:
            conn.task = None

    def _connect_failed(self, conn: _Conn) -> None:
        if not conn.closed:
            conn.closed = True
            self.forget(conn)
        if conn.slot >= 0:
            slot, conn.slot = conn.slot, -1
            self.finish(slot, CONN)

    def _sweep(self) -> None:
        """Give up every request past its deadline: abort its connection."""
        now = self.now()
        in_flight = self.in_flight
        while in_flight and in_flight[0][0] <= now:
            _, slot, conn = in_flight.popleft()
            if conn.slot == slot and self.status[slot] == PENDING:
                conn.slot = -1
                self.finish(slot, TIMEOUT)
                conn.abort()
        at, waiting = self.schedule.at, self.waiting
        while waiting and at[waiting[0]] + self.deadline <= now:
            slot = waiting.popleft()
            self.finish(slot, NOCONN)

    async def run(self) -> Outcome:
        self.loop = asyncio.get_running_loop()
        at = self.schedule.at
        n = len(at)
        cpu0 = time.process_time()
        self.start = time.monotonic() + 0.05
        i = 0
        last_sweep = 0.0
        while i < n:
            now = self.now()
            while i < n and at[i] <= now:
                self._dispatch(i)
                i += 1
            if now - last_sweep >= SWEEP_SECONDS:
                self._sweep()
                last_sweep = now
            # At least a millisecond: shorter timers make uvloop spin, and the CPU it would
            # burn is shared with Redis and PostgreSQL. Arrivals due meanwhile go out together.
            wait = at[i] - self.now() if i < n else 0.0
            await asyncio.sleep(min(max(wait, MIN_SLEEP_SECONDS), SWEEP_SECONDS))
        # Everything sent: wait for the answers, up to the last deadline.
        while self.unfinished > 0 and self.now() < self.schedule.seconds + self.deadline + 0.5:
            self._sweep()
            await asyncio.sleep(SWEEP_SECONDS)
        wall = self.now()
        for slot in range(n):
            if self.status[slot] == PENDING:  # not reachable unless the loop stalled
                self.status[slot] = TIMEOUT
                self.done[slot] = wall
        for conn in [c for idle in self.idle.values() for c in idle]:
            conn.abort()
        for _, _, conn in self.in_flight:
            conn.abort()
        cpu = time.process_time() - cpu0
        return Outcome(
            self.schedule,
            self.status,
            self.done,
            self.lag,
            self.deadline,
            connections_opened=self.opened,
            peak_connections=self.peak,
            waited_for_connection=self.waited,
            cpu_seconds=cpu,
            wall_seconds=wall,
        )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (about twice the requests per CPU second)."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name() -> str:
    """Which event loop :func:`run` uses."""
    loop = new_event_loop()
    try:
        return f"{type(loop).__module__.split('.')[0]} event loop"
    finally:
        loop.close()


def run(
    port: int, schedule: Schedule, deadline: float = 1.0, max_connections: int = 4000
) -> Outcome:
    """Run ``schedule`` against ``port``; blocks until every request is answered or given up."""
    loop = new_event_loop()
    # No garbage collection during the run: with the app's modules imported (SQLAlchemy,
    # pydantic, ...) a full collection walks a large heap and stalls the loop for 50-100 ms,
    # which shows up as the generator sending late and opening hundreds of connections.
    # Nothing here makes cycles that matter; they are collected when the run is over.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return loop.run_until_complete(OpenLoop(port, schedule, deadline, max_connections).run())
    finally:
        gc.enable()
        gc.unfreeze()
        loop.close()


def get(path: str, headers: dict[str, str]) -> bytes:
    """The bytes of ``GET path`` with ``headers`` on a keep-alive connection."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
