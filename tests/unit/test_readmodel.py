"""The compact field values of the results read model: round trips, size, unknown formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from miniapp_api.readmodel import (
    MAX_VALUE_BYTES,
    STATE_CODES,
    ResultEntry,
    decode_value,
    encode_value,
)

SAMPLED = datetime(2022, 3, 16, 8, 0, 5, tzinfo=UTC)
ROUND = "2022年3月16日全员核酸筛查第16轮"
SITE = "北京市朝阳区望京街道第17号社区核酸采样点"


def entry(state: str, tested: datetime | None) -> ResultEntry:
    return ResultEntry("T000123456789", ROUND, SITE, SAMPLED, state, tested)


@pytest.mark.parametrize("state", sorted(STATE_CODES))
def test_every_state_round_trips(state: str) -> None:
    tested = None if state == "pending" else SAMPLED + timedelta(hours=3, seconds=7)
    original = entry(state, tested)

    stored = decode_value(encode_value(original, 3, 17))

    assert (stored.round_id, stored.site_id) == (3, 17)
    assert stored.entry(original.tube_no, ROUND, SITE) == original


def test_pending_has_no_tested_time() -> None:
    value = encode_value(entry("pending", None), 1, 2)

    assert value == f"w|1|2|{int(SAMPLED.timestamp())}|"
    assert decode_value(value).tested_at is None


def test_the_state_codes_are_one_distinct_character_each() -> None:
    assert all(len(code) == 1 for code in STATE_CODES.values())
    assert len(set(STATE_CODES.values())) == len(STATE_CODES)


def test_a_value_stays_under_the_listpack_limit_even_with_large_ids() -> None:
    far = datetime(2099, 12, 31, tzinfo=UTC)
    big = ResultEntry("T" + "9" * 30, ROUND * 3, SITE * 3, far, "retest_required", far)

    assert len(encode_value(big, 10**9, 10**9).encode()) < MAX_VALUE_BYTES


def test_names_are_not_in_the_value_so_a_pipe_in_a_name_is_harmless() -> None:
    value = encode_value(ResultEntry("T1", "第1轮|加测", "采样点|A", SAMPLED, "negative"), 4, 5)

    assert value.count("|") == 4
    assert decode_value(value).site_id == 5


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown result state"):
        encode_value(entry("lost", None), 1, 2)


@pytest.mark.parametrize(
    "value",
    [
        f"negative|{ROUND}|{SITE}|1647417605|1647428405",  # the previous format
        "n|1|2|1647417605",
        "x|1|2|1647417605|",
        "n|one|2|1647417605|",
        "",
    ],
)
def test_an_unknown_format_is_refused_clearly(value: str) -> None:
    with pytest.raises(ValueError, match="unknown results read model value"):
        decode_value(value)
