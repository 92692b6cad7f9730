"""A scan item whose transaction loses a race or is rolled back by the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql import Select

from miniapp_api.sampling import service
from miniapp_api.sampling.schemas import ScanItemIn, ScanStatus
from miniapp_api.sampling.tubes import TubeSpot

NOW = datetime(2022, 3, 16, 2, 0, tzinfo=UTC)
ITEM = ScanItemIn(
    client_id="c-1", tube_no="T1", code="not a code", scanned_at=datetime(2022, 3, 16, tzinfo=UTC)
)
DESK = service._Desk(
    staff_id=7,
    spot=TubeSpot(round_id=1, site_id=2, lab_id=None),
    site_name="Site",
    round_name="Round",
    keys=(),
    now=NOW,
    earliest_scan=NOW - timedelta(hours=12),
    window_hours=12,
    request_id="r" * 32,
)


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class FakeSession:
    """Fails the first receipt inserts with the given errors; answers lookups from ``stored``."""

    def __init__(self, failures: list[Exception], stored: dict[str, Any] | None = None) -> None:
        self.failures = failures
        self.stored = stored or {}
        self.receipts: list[dict[str, Any]] = []
        self.transactions = 0

    @contextmanager
    def begin(self) -> Iterator[None]:
        self.transactions += 1
        yield

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(statement, Select):
            return list(self.stored.items())
        if self.failures:
            raise self.failures.pop(0)
        assert params is not None
        self.receipts.append(params)
        return None


def operational(sqlstate: str) -> OperationalError:
    return OperationalError("INSERT INTO scan_receipts ...", {}, DriverError(sqlstate))


def scan(session: FakeSession) -> Any:
    return service._scan_item(session, DESK, ITEM)  # type: ignore[arg-type]


def test_an_item_rolled_back_by_a_deadlock_is_tried_again() -> None:
    session = FakeSession([operational("40P01")])

    answer, bound = scan(session)

    assert answer.status is ScanStatus.INVALID
    assert bound is None
    assert [r["client_id"] for r in session.receipts] == ["c-1"]
    assert session.transactions == 2


def test_other_database_failures_are_not_retried() -> None:
    session = FakeSession([operational("08006")])
    with pytest.raises(OperationalError):
        scan(session)
    assert session.receipts == []


def test_a_lost_race_returns_the_answer_the_winner_stored() -> None:
    winner = service._answer(ITEM, ScanStatus.BOUND).model_dump(mode="json")
    conflict = IntegrityError("INSERT INTO scan_receipts ...", {}, DriverError("23505"))
    session = FakeSession([conflict], stored={"c-1": winner})

    answer, bound = scan(session)

    assert answer.status is ScanStatus.BOUND
    assert bound is None  # the winner records it in the read model, not the loser
    assert session.receipts == []
