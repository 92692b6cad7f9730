"""The start-up sizing check against the suite's PostgreSQL (``SHOW max_connections``)."""

from __future__ import annotations

import pytest

from miniapp_api.ops.sizing import check_connection_budget, server_max_connections
from miniapp_api.settings import DatabaseSettings
from tests.conftest import DATABASE_URL
from tests.support.redis_servers import free_ports


class Collected:
    """A logger that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)


@pytest.fixture(scope="module")
def limit() -> int:
    return server_max_connections(DATABASE_URL)


def test_a_node_past_its_share_is_warned_with_the_arithmetic(limit: int) -> None:
    log = Collected()
    database = DatabaseSettings(DATABASE_URL, pool_size=1, max_connections_share=0.5)

    check_connection_budget(database, workers=limit, log=log)

    assert log.lines == [
        f"sizing: this node may open {2 * limit} database connections ({limit} workers x "
        f"(pool 1 + overflow 1)), more than MINIAPP_DATABASE__MAX_CONNECTIONS_SHARE=0.5 of "
        f"PostgreSQL's max_connections={limit} ({limit // 2}); lower MINIAPP_WORKERS or "
        "MINIAPP_DATABASE__POOL_SIZE, or raise max_connections (README, 'Sizing')"
    ]


def test_a_node_within_its_share_starts_quietly(limit: int) -> None:
    log = Collected()
    # Exactly the share is still within it: 2 workers x (pool + overflow) == limit / 2.
    pool = limit // 8
    database = DatabaseSettings(DATABASE_URL, pool_size=pool, max_connections_share=0.5)
    assert 2 * 2 * pool <= limit // 2

    check_connection_budget(database, workers=2, log=log)

    assert log.lines == []


def test_an_unreachable_server_is_reported_without_failing_the_start() -> None:
    (port,) = free_ports(1)
    log = Collected()
    database = DatabaseSettings(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")

    check_connection_budget(database, workers=64, log=log)

    assert log.lines == [
        "sizing: PostgreSQL's max_connections could not be read (OperationalError); "
        "connections not checked"
    ]


def test_sqlite_is_not_checked() -> None:
    log = Collected()
    check_connection_budget(DatabaseSettings("sqlite:///nowhere.db"), workers=1000, log=log)
    assert log.lines == []
