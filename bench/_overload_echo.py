"""A trivially cheap HTTP server, to measure how fast the open-loop generator itself can go.

``python bench/_overload_echo.py PORT``: answers every request on a keep-alive connection
with the same small 200, no parsing beyond counting the ends of request heads. On its own CPU
it answers far more than the app can, so a generator that falls behind here is the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import cast

ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        count = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4 :] if count else data
        if count:
            self.transport.write(ANSWER * count)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1])
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(serve(port))


if __name__ == "__main__":
    main()
