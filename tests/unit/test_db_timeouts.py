"""A database that accepts the connection but never answers (a hung host, a half-open network
path) fails a new connection after the connect timeout, instead of holding a request's thread
for as long as the kernel keeps trying."""

from __future__ import annotations

import socket
import threading

from sqlalchemy.exc import OperationalError

from miniapp_api.db import CONNECT_TIMEOUT_SECONDS, Database


def test_a_database_that_never_answers_fails_the_connection_instead_of_hanging() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers the startup
    port = silent.getsockname()[1]
    database = Database(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", pool_size=1)
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            database.engine.connect().close()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001  reported below
            outcome.append(exc)

    attempt = threading.Thread(target=connect, daemon=True)
    try:
        attempt.start()
        # Not a speed check: without a connect timeout the attempt never ends at all.
        attempt.join(CONNECT_TIMEOUT_SECONDS * 10)
        assert not attempt.is_alive(), "the connection attempt is still waiting"
        assert len(outcome) == 1
        assert isinstance(outcome[0], OperationalError)
    finally:
        database.dispose()
        silent.close()
