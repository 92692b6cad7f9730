"""An outbox payload, turned into the template data each platform expects.

The template's field names are fixed when the template is chosen in the platform's console, so
they live in one small table per platform. The template configured as
``MINIAPP_NOTIFY__WECHAT_TEMPLATE_ID`` / ``..._ALIPAY_TEMPLATE_ID`` must have these fields:

============ ===================== ====================== ================================
source       WeChat key (limit)    Alipay key             value
============ ===================== ====================== ================================
person       ``thing1`` (20)       ``keyword1``           masked name, e.g. ``张*``
result       ``phrase2`` (5)       ``keyword2``           阴性 / 阳性 / 需复检 / 需重新采样
tested_at    ``time3``             ``keyword3``           Beijing time, ``2022年3月16日 15:01``
tube_no      ``character_string4`` ``keyword4``           the tube number
round        ``thing5`` (20)       ``keyword5``           the round's name; "更正 " first when
                                                          the message announces an amendment
============ ===================== ====================== ================================

WeChat refuses values over a field type's length (``thing`` 20, ``phrase`` 5,
``character_string`` 32), so values are clipped to it. The payload is built when the message is sent
(:func:`miniapp_api.notify.payloads.payloads`); every field has a default, so a payload
missing one still makes a message (it links to the result page, which has everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from channels.base import Platform

# The mini-program page a message opens (the same path in both mini-programs).
RESULT_PAGE = "pages/results/index"

# China has had no daylight saving time since 1991: a fixed offset needs no tz database.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# A WeChat ``phrase`` holds at most 5 Chinese characters.
RESULT_PHRASES: Mapping[str, str] = {
    "negative": "阴性",
    "positive": "阳性",
    "retest_required": "需复检",  # the pooled tube was positive: single-tube re-test
    "invalid": "需重新采样",  # the sample could not be tested
    "pending": "检测中",
}
DEFAULT_PHRASE = "已出结果"
DEFAULT_PERSON = "受检人"
DEFAULT_ROUND = "核酸筛查"
DEFAULT_TUBE = "-"
AMENDED_PREFIX = "更正 "  # the lab corrected an earlier result


@dataclass(frozen=True)
class TemplateField:
    key: str
    source: str
    limit: int | None = None  # characters; None: not clipped


WECHAT_FIELDS: tuple[TemplateField, ...] = (
    TemplateField("thing1", "person", 20),
    TemplateField("phrase2", "result", 5),
    TemplateField("time3", "tested_at"),
    TemplateField("character_string4", "tube_no", 32),
    TemplateField("thing5", "round", 20),
)
ALIPAY_FIELDS: tuple[TemplateField, ...] = (
    TemplateField("keyword1", "person", 20),
    TemplateField("keyword2", "result", 20),
    TemplateField("keyword3", "tested_at"),
    TemplateField("keyword4", "tube_no", 32),
    TemplateField("keyword5", "round", 20),
)
FIELDS: Mapping[Platform, tuple[TemplateField, ...]] = {
    Platform.WECHAT: WECHAT_FIELDS,
    Platform.ALIPAY: ALIPAY_FIELDS,
}


@dataclass(frozen=True)
class TemplateMessage:
    """What ``LoginChannel.send_message`` takes, but the recipient."""

    template_id: str
    data: Mapping[str, str]
    page: str = RESULT_PAGE


def build_message(
    platform: Platform, template_id: str, *, payload: Mapping[str, Any], fallback_time: datetime
) -> TemplateMessage:
    """The message announcing the result in ``payload``.

    ``fallback_time`` (when the outbox row was written) stands in for a missing ``tested_at``.
    """
    values = source_values(payload, fallback_time)
    data = {f.key: _clip(values[f.source], f.limit) for f in FIELDS[platform]}
    return TemplateMessage(template_id, data)


def source_values(payload: Mapping[str, Any], fallback_time: datetime) -> dict[str, str]:
    """The five display values of a payload, each with its default."""
    round_name = _text(payload, "round") or DEFAULT_ROUND
    return {
        "person": _text(payload, "resident_name_masked") or DEFAULT_PERSON,
        "result": RESULT_PHRASES.get(_text(payload, "state"), DEFAULT_PHRASE),
        "tested_at": beijing_time(_moment(payload.get("tested_at")) or fallback_time),
        "tube_no": _text(payload, "tube_no") or DEFAULT_TUBE,
        "round": AMENDED_PREFIX + round_name if _is_amendment(payload) else round_name,
    }


def beijing_time(moment: datetime) -> str:
    """``2022年3月16日 15:01``: the format WeChat documents for ``time`` fields."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(BEIJING)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _is_amendment(payload: Mapping[str, Any]) -> bool:
    """Version n > 0 announces the n-th correction of the tube's result."""
    version = payload.get("version")
    return isinstance(version, int) and not isinstance(version, bool) and version > 0


def _text(payload: Mapping[str, Any], name: str) -> str:
    """The value of ``name`` as stripped text if it is a string or a number; else ``""``."""
    value = payload.get(name)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _moment(value: object) -> datetime | None:
    """An ISO 8601 string or Unix seconds as a datetime; None if it is neither."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _clip(value: str, limit: int | None) -> str:
    return value if limit is None or len(value) <= limit else value[:limit]
