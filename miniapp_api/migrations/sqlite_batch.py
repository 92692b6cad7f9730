"""Helpers for migrations that alter tables SQLite can only rebuild ("batch" mode)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SAWarning


@contextmanager
def quiet_sqlite_reflection() -> Iterator[None]:
    """SQLite rebuilds a table to drop a constraint or column and reflects the tables it refers
    to; SQLAlchemy cannot reflect the expression index of screening_rounds and warns. No
    migration touches that index, so the warning is noise there."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Skipped unsupported reflection of expression-based index",
            category=SAWarning,
        )
        yield
