"""A counting TCP proxy: how many round trips an app makes to Redis or PostgreSQL.

Both protocols are request/response on each connection, and both clients the app uses
(redis-py, psycopg) are blocking: a thread sends, then waits for the whole answer before it
sends again on that connection. So a round trip is one turn of the conversation: the client
sends after the server has spoken (or first), whatever the number of TCP segments, and a
pipeline of four Redis commands sent at once is one round trip, as it costs one wait. The proxy
counts exactly those turns per connection, sees only the connections of the app pointed at it
(Redis and PostgreSQL are shared with other work on this machine), and changes no byte.

For Redis it also counts the commands (RESP arrays the client sends), which ``INFO
commandstats`` would give only server-wide and without the round trips.

It runs as an asyncio loop in a thread of the bench process (on the generator's CPU), so what
it costs is not the app's; only the app that is counted goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

LOOPBACK = "127.0.0.1"
READ_SIZE = 65_536


@dataclass(frozen=True)
class Counts:
    round_trips: int = 0
    commands: int = 0  # Redis only: RESP commands sent by the app
    bytes_up: int = 0
    bytes_down: int = 0
    connections: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.round_trips - other.round_trips,
            self.commands - other.commands,
            self.bytes_up - other.bytes_up,
            self.bytes_down - other.bytes_down,
            self.connections - other.connections,
        )


class RespCommands:
    """Counts the commands in a client's RESP stream, fed in arbitrary pieces: an array header
    ``*<n>`` is one command, bulk strings ``$<len>`` are skipped by length (so their bytes are
    never mistaken for headers), any other line outside an array is an inline command."""

    def __init__(self) -> None:
        self._buffer = b""
        self._skip = 0  # bytes of a bulk string (and its CRLF) still to come
        self._elements = 0  # elements of the current array still to come
        self.count = 0

    def feed(self, data: bytes) -> None:
        buffer, pos = self._buffer + data, 0
        while True:
            if self._skip:
                taken = min(self._skip, len(buffer) - pos)
                pos, self._skip = pos + taken, self._skip - taken
                if self._skip:
                    break
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                break
            line, pos = buffer[pos:end], end + 2
            if line[:1] == b"$" and self._elements:
                self._skip, self._elements = int(line[1:]) + 2, self._elements - 1
            elif line[:1] == b"*":
                self.count, self._elements = self.count + 1, int(line[1:])
            elif line:
                self.count += 1
        self._buffer = buffer[pos:]


class CountingProxy:
    """Listens on a free loopback port and relays every connection to ``upstream_port``."""

    def __init__(self, upstream_port: int, *, resp: bool) -> None:
        self.upstream_port = upstream_port
        self.resp = resp
        self._counts = Counts()  # replaced, never mutated: only the loop's thread writes it
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0  # the listening port, once started
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> int:
        """Start relaying; returns the port to point the app at."""
        self._server = self._loop.run_until_complete(asyncio.start_server(self._relay, LOOPBACK, 0))
        self._thread.start()
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def counts(self) -> Counts:
        """The totals so far (read on the proxy's own loop, so they are consistent)."""

        async def read() -> Counts:
            return self._counts

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Close the listener and every relayed connection, then end the loop's thread."""

        async def close_all() -> None:
            if self._server is not None:
                self._server.close()
            for writer in self._writers:
                writer.close()  # each relay's pumps then see the end of their streams
            relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if relays:
                await asyncio.wait(relays, timeout=5)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            client_out.close()
            return
        writers = {client_out, server_out}
        self._writers |= writers
        self._counts = replace(self._counts, connections=self._counts.connections + 1)
        # The client's first bytes open a round trip, as do its first bytes after an answer.
        answered = True
        commands = RespCommands()

        def upstream(data: bytes) -> None:
            nonlocal answered
            before, counts = commands.count, self._counts
            if self.resp:
                commands.feed(data)
            self._counts = replace(
                counts,
                round_trips=counts.round_trips + (1 if answered else 0),
                commands=counts.commands + commands.count - before,
                bytes_up=counts.bytes_up + len(data),
            )
            answered = False

        def downstream(data: bytes) -> None:
            nonlocal answered
            answered = True
            self._counts = replace(self._counts, bytes_down=self._counts.bytes_down + len(data))

        try:
            await asyncio.gather(
                _pump(client_in, server_out, upstream), _pump(server_in, client_out, downstream)
            )
        finally:
            self._writers -= writers


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, seen: Callable[[bytes], None]
) -> None:
    """Copy ``source`` to ``sink`` until either side closes, calling ``seen`` on each piece."""
    try:
        while data := await source.read(READ_SIZE):
            seen(data)
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            sink.close()
