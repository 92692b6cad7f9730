"""Counting what an app asks its database (e.g. that a path sends no SQL at all), and reading
a scratch database's rows (migration tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, event, text


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends inside the block, in order."""
    seen: list[str] = []
    engine = app.extensions["miniapp"].db.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def rows(url: str, query: str) -> list[Any]:
    """The rows of ``query`` on the database at ``url`` (its own engine, disposed after)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query)))
    finally:
        engine.dispose()
