"""The log redaction filter masks anything that still looks like an ID or a phone number; the
JSON lines carry an ISO 8601 time in UTC and access lines the fields an operator filters by."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from miniapp_api.logging import JsonFormatter, build_handler, log_access, redact
from tests.support.logs import access_lines_written


def test_id_numbers_and_phones_are_masked() -> None:
    line = "user 31011519900307123X phone 13812345678 and +8613900001111"
    assert redact(line) == "user 310***********123X phone 138****5678 and +86139****1111"


def test_other_numbers_are_left_alone() -> None:
    assert redact("took 1234567 ms, tube 00012345678901") == "took 1234567 ms, tube 00012345678901"


# --- ts --------------------------------------------------------------------------------------


def line_of(record: logging.LogRecord) -> dict[str, Any]:
    written = io.StringIO()
    build_handler(written).handle(record)
    parsed: dict[str, Any] = json.loads(written.getvalue())
    return parsed


def record_at(created: float) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "tests.ts", "msg": "hello", "levelno": logging.INFO})
    record.created = created
    return record


def test_ts_is_iso_8601_in_utc_to_the_millisecond() -> None:
    # The tests run in Beijing time (tests/conftest.py), as the servers do: the line is in UTC.
    moment = datetime(2026, 12, 7, 4, 12, 33, 123_456, tzinfo=UTC)

    ts = line_of(record_at(moment.timestamp()))["ts"]

    assert ts == "2026-12-07T04:12:33.123+00:00"
    parsed = datetime.fromisoformat(ts)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == moment.replace(microsecond=123_000)


def test_ts_is_the_time_of_the_line() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    record = logging.makeLogRecord({"name": "tests.ts", "msg": "now"})

    parsed = datetime.fromisoformat(line_of(record)["ts"])

    assert parsed.tzinfo is not None
    assert before <= parsed <= datetime.now(UTC)


def test_the_last_millisecond_of_a_second_stays_in_that_second() -> None:
    formatter = JsonFormatter()
    second = datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC).timestamp()

    assert formatter.timestamp(second + 0.9996) == "2026-12-07T23:59:59.999+00:00"
    assert formatter.timestamp(second + 1.0004) == "2026-12-08T00:00:00.000+00:00"


def test_one_formatter_formats_each_second_anew() -> None:
    # The formatter keeps the text of the last second: a line of another second (later, or
    # earlier as another thread's can be) must not reuse it.
    formatter = JsonFormatter()
    start = datetime(2026, 12, 7, 4, 12, 33, tzinfo=UTC).timestamp()

    shown = [formatter.timestamp(start + offset) for offset in (0.5, 0.7, 1.2, 0.9, 3600.0)]

    assert shown == [
        "2026-12-07T04:12:33.500+00:00",
        "2026-12-07T04:12:33.700+00:00",
        "2026-12-07T04:12:34.200+00:00",
        "2026-12-07T04:12:33.900+00:00",
        "2026-12-07T05:12:33.000+00:00",
    ]


# --- the access line -------------------------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The access lines written while the test runs, as the production handler writes them."""
    with access_lines_written() as lines:
        yield lines


def test_an_access_line_carries_client_method_path_status_duration_and_request_id(
    access_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    log_access(
        "GET",
        "/api/v1/results",
        status=200,
        started=time.perf_counter() - 0.25,
        client="203.0.113.7",
        request_id="req-00000001",
    )

    (line,) = access_lines()
    assert line["logger"] == "miniapp_api.access"
    assert line["message"] == "GET /api/v1/results 200"
    assert line["client"] == "203.0.113.7"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/results", 200)
    assert line["request_id"] == "req-00000001"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 250.0


def test_an_id_number_in_the_path_is_masked_in_the_message_and_the_path_field(
    access_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    log_access(
        "GET",
        "/api/v1/lookup/31011519900307123X",
        status=404,
        started=time.perf_counter(),
        client="2001:db8::1",
    )

    (line,) = access_lines()
    assert line["path"] == "/api/v1/lookup/310***********123X"
    assert line["message"] == "GET /api/v1/lookup/310***********123X 404"
    assert "31011519900307123X" not in json.dumps(line)
    assert line["client"] == "2001:db8::1"


def test_a_signed_code_image_link_is_logged_without_its_signature(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="miniapp_api.access"):
        log_access(
            "GET",
            "/api/v1/code-images/r_abc.c_def.1765080000.Zm9vYmFyYmF6cXV4.png",
            status=200,
            started=time.perf_counter(),
            client="203.0.113.7",
        )
        log_access("GET", "/api/v1/code-images/garbage", status=404, started=0.0, client="-")
    first, second = caplog.records
    assert first.path == "/api/v1/code-images/r_abc.c_def.1765080000.***.png"  # type: ignore[attr-defined]
    assert "Zm9vYmFyYmF6cXV4" not in first.getMessage()
    assert second.path == "/api/v1/code-images/***"  # type: ignore[attr-defined]
