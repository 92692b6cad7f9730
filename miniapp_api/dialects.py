"""Where PostgreSQL (production) and SQLite (the embedded default) differ, in one place.

Both run the same models and migrations. The differences the code needs are few: the dialect's
own ``INSERT`` (for ``ON CONFLICT``), a list parameter (one PostgreSQL array instead of a
parameter per value, which was half of a 1,000-tube batch's statement time), and the row and
advisory locks SQLite does not have. Callers that take a different path altogether on
PostgreSQL (the one-statement fan-out, ``results/pipeline.py``) ask :func:`is_postgresql`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_for(session: Session, table: Any) -> Any:
    """The dialect's ``INSERT`` of ``table`` (it has ``on_conflict_do_*``)."""
    if is_postgresql(session):
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_of(session: Session, column: Any, values: Sequence[Any], item_type: TypeEngine[Any]) -> Any:
    """``column IN (values)``: on PostgreSQL ``= ANY(:values)``, one array parameter."""
    if is_postgresql(session):
        return column == any_(bindparam("values", list(values), type_=postgresql.ARRAY(item_type)))
    return column.in_(values)


def array_param(name: str, values: Sequence[Any], item_type: TypeEngine[Any]) -> Any:
    """A PostgreSQL array parameter (for ``unnest`` and ``= ANY``); PostgreSQL only."""
    return bindparam(name, list(values), type_=postgresql.ARRAY(item_type))


def lock_for_transaction(session: Session, key: int) -> None:
    """An advisory lock held until the transaction ends (PostgreSQL). SQLite needs none: it
    lets one writer in at a time anyway."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def try_lock_for_transaction(session: Session, key: int) -> bool | None:
    """Take the advisory lock ``key`` until the transaction ends if no one holds it, without
    waiting; whether it was free (PostgreSQL). ``None`` on SQLite, which has no such locks: the
    caller cannot learn there whether another transaction is at work."""
    if not is_postgresql(session):
        return None
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))
