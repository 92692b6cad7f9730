"""SQLAlchemy 2 wiring: the declarative base and one engine + session factory per app."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names so Alembic migrations read the same on PostgreSQL and SQLite.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_public_id(prefix: str) -> str:
    """An opaque random id for the API; internal integer keys never leave the database."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were stored as UTC); PostgreSQL in its zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Database:
    """The engine and session factory. Services get a ``Session`` and own its transaction."""

    def __init__(self, url: str, *, pool_size: int) -> None:
        self.url = url
        self.engine = _make_engine(url, pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


CONNECT_TIMEOUT_SECONDS = 3


def max_connections_per_engine(pool_size: int) -> int:
    """The most connections one engine opens at once: its pool plus as many overflow ones
    (one per gunicorn thread at the defaults, 16 + 16). The start-up sizing check
    (``miniapp_api.ops.sizing``) multiplies it by the workers."""
    return pool_size + _max_overflow(pool_size)


def _max_overflow(pool_size: int) -> int:
    return pool_size


def _make_engine(url: str, pool_size: int) -> Engine:
    # hide_parameters: a statement's parameters (openids, ciphertexts, blind indexes) stay out
    # of its errors' text, which tracebacks and the logs carry; the SQL itself still shows.
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 15},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a worker that sat idle through a database failover reconnects instead of 500ing.
    # connect_timeout: a database host that drops packets (instead of refusing) fails a new
    # connection in seconds, not after the kernel's minutes: the 503 contract, /readyz and
    # /metrics' outbox figures answer instead of hanging a thread.
    return create_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=_max_overflow(pool_size),
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
