"""An outbox payload becomes each platform's template data (the table in messages.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.base import Platform
from miniapp_api.notify.messages import RESULT_PAGE, build_message, source_values

WRITTEN = datetime(2022, 3, 16, 2, 0, tzinfo=UTC)


def payload(**changes: object) -> dict[str, object]:
    """Shaped like what ``miniapp_api.notify.payloads.payloads`` builds."""
    return {
        "kind": "result",
        "platform": "wechat",
        "recipient": "o-someone",
        "resident_id": "r_1",
        "resident_name_masked": "李*英",
        "state": "negative",
        "tested_at": "2022-03-16T07:01:00+00:00",
        "tube_no": "T20220316-0001",
        "round": "3月16日 浦东新区",
        "site": "浦东 1 号点",
        "version": 0,
        **changes,
    }


def test_wechat_data_from_what_ingest_writes() -> None:
    message = build_message(Platform.WECHAT, "tpl", payload=payload(), fallback_time=WRITTEN)

    assert message.template_id == "tpl"
    assert message.page == RESULT_PAGE
    assert message.data == {
        "thing1": "李*英",
        "phrase2": "阴性",
        "time3": "2022年3月16日 15:01",  # Beijing time
        "character_string4": "T20220316-0001",
        "thing5": "3月16日 浦东新区",
    }


def test_alipay_data_uses_keywords() -> None:
    message = build_message(Platform.ALIPAY, "tpl", payload=payload(), fallback_time=WRITTEN)
    assert message.data == {
        "keyword1": "李*英",
        "keyword2": "阴性",
        "keyword3": "2022年3月16日 15:01",
        "keyword4": "T20220316-0001",
        "keyword5": "3月16日 浦东新区",
    }


@pytest.mark.parametrize(
    ("state", "phrase"),
    [
        ("negative", "阴性"),
        ("positive", "阳性"),
        ("retest_required", "需复检"),
        ("invalid", "需重新采样"),
        ("something_new", "已出结果"),
    ],
)
def test_each_state_is_a_phrase_of_at_most_five_characters(state: str, phrase: str) -> None:
    data = build_message(
        Platform.WECHAT, "t", payload=payload(state=state), fallback_time=WRITTEN
    ).data
    assert data["phrase2"] == phrase
    assert len(phrase) <= 5


def test_an_amendment_says_so() -> None:
    assert source_values(payload(version=1), WRITTEN)["round"] == "更正 3月16日 浦东新区"
    assert source_values(payload(version=0), WRITTEN)["round"] == "3月16日 浦东新区"


def test_values_are_clipped_to_wechat_limits() -> None:
    long = payload(round="长" * 30, tube_no="9" * 40)
    data = build_message(Platform.WECHAT, "t", payload=long, fallback_time=WRITTEN).data
    assert data["thing5"] == "长" * 20
    assert data["character_string4"] == "9" * 32


def test_an_empty_payload_still_makes_a_message() -> None:
    data = build_message(Platform.WECHAT, "t", payload={}, fallback_time=WRITTEN).data
    assert data == {
        "thing1": "受检人",
        "phrase2": "已出结果",
        "time3": "2022年3月16日 10:00",  # when the row was written
        "character_string4": "-",
        "thing5": "核酸筛查",
    }


@pytest.mark.parametrize(
    "tested_at",
    ["2022-03-16T07:01:00+00:00", "2022-03-16T15:01:00+08:00", "2022-03-16T07:01:00", 1647414060],
)
def test_tested_at_in_any_reasonable_form_is_shown_in_beijing_time(tested_at: object) -> None:
    values = source_values({"tested_at": tested_at}, WRITTEN)
    assert values["tested_at"] == "2022年3月16日 15:01"


@pytest.mark.parametrize("tested_at", ["yesterday", None, True, {"at": 1}])
def test_an_unreadable_tested_at_falls_back_to_when_the_row_was_written(
    tested_at: object,
) -> None:
    assert source_values({"tested_at": tested_at}, WRITTEN)["tested_at"] == "2022年3月16日 10:00"
