"""Timestamps of tubes and samplings come back from either database as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from miniapp_api.db import as_utc


def test_naive_sqlite_timestamps_are_read_as_utc() -> None:
    assert as_utc(datetime(2022, 3, 16, 1, 30)) == datetime(2022, 3, 16, 1, 30, tzinfo=UTC)


def test_zoned_timestamps_are_converted_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    converted = as_utc(datetime(2022, 3, 16, 9, 30, tzinfo=shanghai))
    assert converted == datetime(2022, 3, 16, 1, 30, tzinfo=UTC)
    assert converted.tzinfo is UTC
