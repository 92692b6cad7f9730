"""The result guidance and scan answers: every code has both languages, with the same
placeholders; every result state that needs guidance has a code, every scan status a message."""

from __future__ import annotations

import re
import string
import typing
from datetime import UTC, datetime, timedelta

import pytest

from miniapp_api.messages import (
    GUIDANCE,
    GUIDANCE_CODES,
    SCAN_MESSAGES,
    Text,
    guidance_code,
    guidance_text,
    scan_message,
)
from miniapp_api.readmodel import ResultEntry
from miniapp_api.results.schemas import PersonState
from miniapp_api.results.service import result_out
from miniapp_api.sampling.schemas import ScanStatus

HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def assert_bilingual(key: str, text: Text) -> None:
    assert text.zh.strip(), key
    assert text.en.strip(), key
    assert HAS_CJK.search(text.zh), f"{key}: the zh text is not Chinese"
    assert not HAS_CJK.search(text.en), f"{key}: the en text has Chinese in it"
    assert placeholders(text.zh) == placeholders(text.en), key


@pytest.mark.parametrize("code", GUIDANCE_CODES)
def test_every_guidance_code_has_both_languages(code: str) -> None:
    assert_bilingual(code, GUIDANCE[code])  # type: ignore[index]


def test_the_guidance_codes_are_the_tables_keys() -> None:
    assert set(GUIDANCE) == set(GUIDANCE_CODES)


def test_every_state_with_news_has_guidance_and_the_rest_none() -> None:
    states = typing.get_args(PersonState)
    with_news = {s for s in states if guidance_code(s, overdue=False) is not None}
    assert with_news == {"positive", "retest_required", "invalid"}
    assert guidance_code("pending", overdue=True) == "overdue"


@pytest.mark.parametrize("status", list(ScanStatus))
def test_every_scan_status_has_a_message_in_both_languages(status: ScanStatus) -> None:
    assert_bilingual(status.value, SCAN_MESSAGES[status.value])
    values = {"tube_no": "T1", "hours": "12", "site": "S", "time": "2022-03-16 10:00"}
    for language in ("zh", "en"):
        assert "{" not in scan_message(status.value, language, **values)


def test_no_scan_message_is_left_without_its_status() -> None:
    assert set(SCAN_MESSAGES) == {s.value for s in ScanStatus}


def test_overdue_guidance_fills_hours_and_site() -> None:
    said = guidance_text("overdue", "en", hours=48, site="East Gate")
    assert "48 hours" in said
    assert "East Gate" in said
    assert "48 小时" in guidance_text("overdue", "zh", hours=48, site="东门")


def test_a_result_entry_gets_its_code_and_the_text_in_the_language_asked() -> None:
    now = datetime(2022, 3, 16, 12, tzinfo=UTC)
    positive = ResultEntry("T1", "R", "Site", now - timedelta(hours=3), state="positive")
    late = ResultEntry("T2", "R", "Site", now - timedelta(hours=49), state="pending")
    day = timedelta(hours=48)

    zh, en = result_out(positive, now, day), result_out(positive, now, day, "en")
    overdue = result_out(late, now, day, "en")

    assert (zh.guidance_code, en.guidance_code) == ("positive", "positive")
    assert (zh.guidance, en.guidance) == (GUIDANCE["positive"].zh, GUIDANCE["positive"].en)
    assert (overdue.guidance_code, overdue.overdue) == ("overdue", True)
    assert overdue.guidance == guidance_text("overdue", "en", hours=48, site="Site")
