"""A person's result from their tube's result: one rule, written by the pipeline in SQL and
re-derived in Python by the push worker (for a message queued before an amendment).

``negative`` and ``invalid`` are the tube's; a ``positive`` tube is ``positive`` for a
single-person tube (capacity 1) and ``retest_required`` for everyone in a pooled tube (a
positive pool sends all its people to single-tube re-tests). A person sampled into a tube
without a result yet is ``pending``.
"""

from __future__ import annotations

from sqlalchemy import case
from sqlalchemy.sql.elements import ColumnElement

from miniapp_api.results.models import TubeResult
from miniapp_api.sampling.models import Tube


def person_state() -> ColumnElement[str]:
    """SQL for a person's state from ``tube_results.result`` and ``tubes.capacity``."""
    return case(
        (
            TubeResult.result == "positive",
            case((Tube.capacity == 1, "positive"), else_="retest_required"),
        ),
        else_=TubeResult.result,
    )


def person_state_of(result: str, capacity: int) -> str:
    """:func:`person_state` in Python."""
    if result == "positive":
        return "positive" if capacity == 1 else "retest_required"
    return result
