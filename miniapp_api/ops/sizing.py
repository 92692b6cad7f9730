"""The start-up sizing check: can this node's connection pools exhaust PostgreSQL?

Each gunicorn worker has one engine whose pool opens up to ``pool_size + max_overflow``
connections (:func:`miniapp_api.db.max_connections_per_engine`), so one app node may hold
``workers x that`` at once. PostgreSQL refuses connections past its ``max_connections`` (100
by default), and every node, the push worker and the operators' tools share it. The check
warns, once per start, when one node could take more than ``[DATABASE] MAX_CONNECTIONS_SHARE``
of the server's connections; it never fails the start (the pools rarely fill, and an operator
may know the server is sized for it), and a database that cannot be asked only gets a warning
that it was not checked.

It runs in gunicorn's master (``when_ready`` in ``config/gunicorn.conf.py``), the one place that
knows the worker count; the app knows only its own pool and would repeat the warning per worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from miniapp_api.db import CONNECT_TIMEOUT_SECONDS, max_connections_per_engine
from miniapp_api.settings import (
    ConfigurationError,
    DatabaseSettings,
    config_dir,
    from_section,
    load_config,
)


class Warner(Protocol):
    """What the check logs through: gunicorn's error logger or a ``logging.Logger``."""

    def warning(self, msg: str, *args: object) -> None: ...


@dataclass(frozen=True)
class ConnectionBudget:
    """One node's most database connections against the server's limit."""

    workers: int
    pool_size: int
    max_overflow: int
    server_max_connections: int
    share: float

    @property
    def node_connections(self) -> int:
        return self.workers * (self.pool_size + self.max_overflow)

    @property
    def allowed(self) -> int:
        """The most one node may take: ``share`` of the server's ``max_connections``."""
        return int(self.server_max_connections * self.share)

    @property
    def exceeded(self) -> bool:
        return self.node_connections > self.allowed

    def explanation(self) -> str:
        """The arithmetic, for the operator who reads the warning."""
        return (
            f"this node may open {self.node_connections} database connections "
            f"({self.workers} workers x (pool {self.pool_size} + overflow {self.max_overflow})), "
            f"more than MINIAPP_DATABASE__MAX_CONNECTIONS_SHARE={self.share:g} of PostgreSQL's "
            f"max_connections={self.server_max_connections} ({self.allowed}); lower "
            "MINIAPP_WORKERS or MINIAPP_DATABASE__POOL_SIZE, or raise max_connections "
            "(README, 'Sizing')"
        )


def budget(
    database: DatabaseSettings, *, workers: int, server_max_connections: int
) -> ConnectionBudget:
    overflow = max_connections_per_engine(database.pool_size) - database.pool_size
    return ConnectionBudget(
        workers=workers,
        pool_size=database.pool_size,
        max_overflow=overflow,
        server_max_connections=server_max_connections,
        share=database.max_connections_share,
    )


def server_max_connections(url: str) -> int:
    """PostgreSQL's ``max_connections``, asked once on a connection of its own."""
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SHOW max_connections")).scalar_one())
    finally:
        engine.dispose()


def check_connection_budget(database: DatabaseSettings, *, workers: int, log: Warner) -> None:
    """Warn through ``log`` when this node may exceed its share; never raises. SQLite (one
    file, no server) is not checked."""
    if make_url(database.url).get_backend_name() != "postgresql":
        return
    try:
        found = server_max_connections(database.url)
    except (SQLAlchemyError, ValueError) as error:
        # The error's class only: its text may carry the URL's host and user.
        log.warning(
            "sizing: PostgreSQL's max_connections could not be read (%s); connections not checked",
            type(error).__name__,
        )
        return
    answer = budget(database, workers=workers, server_max_connections=found)
    if answer.exceeded:
        log.warning("sizing: %s", answer.explanation())


def database_settings() -> DatabaseSettings | None:
    """``[DATABASE]`` from the configuration layers (files, then ``MINIAPP_*``), as the workers
    will read it; ``None`` without a URL (the workers will refuse to start and say why)."""
    config = Config(str(config_dir()))
    load_config(config)
    section = config.get("DATABASE", {})
    url = str(section.get("URL") or "")
    return from_section(DatabaseSettings, section, url=url) if url else None


def check_node(*, workers: int, log: Warner) -> None:
    """:func:`check_connection_budget` with this node's configuration; never raises."""
    try:
        database = database_settings()
    except (ConfigurationError, ValueError, TypeError):
        # No configuration files, a malformed number: the workers' validation names it and
        # refuses to start.
        return
    if database is not None:
        check_connection_budget(database, workers=workers, log=log)
