"""A notice (``residents.models.Notice``), turned into the template data each platform expects.

The notice template is the second template of each platform, configured as
``MINIAPP_NOTIFY__WECHAT_NOTICE_TEMPLATE_ID`` / ``..._ALIPAY_NOTICE_TEMPLATE_ID``; it must have
these fields (like the result template's, :mod:`miniapp_api.notify.messages`):

============ ===================== ====================== ================================
source       WeChat key (limit)    Alipay key             value
============ ===================== ====================== ================================
person       ``thing1`` (20)       ``keyword1``           the record's masked name, ``李*英``
what         ``phrase2`` (5)       ``keyword2``           申请关联 / 已同意 / 已拒绝 /
                                                          已移除 / 已被认领 / 新增关联人
at           ``time3``             ``keyword3``           Beijing time of the notice
============ ===================== ====================== ================================

The message opens the family page, where the holder approves or declines a request and sees
every notice (``GET /api/v1/me``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from channels.base import Platform
from miniapp_api.notify.messages import (
    DEFAULT_PERSON,
    TemplateField,
    TemplateMessage,
    beijing_time,
)
from miniapp_api.residents.models import NoticeKind

FAMILY_PAGE = "pages/family/index"

# A WeChat ``phrase`` holds at most 5 Chinese characters.
NOTICE_PHRASES: Mapping[str, str] = {
    NoticeKind.LINK_REQUESTED: "申请关联",  # someone asks to hold a record you hold
    NoticeKind.LINK_APPROVED: "已同意",  # your request was approved
    NoticeKind.LINK_DECLINED: "已拒绝",  # your request was declined
    NoticeKind.HOLDER_REMOVED: "已移除",  # the person removed you as a holder
    NoticeKind.CLAIM_TAKEN_OVER: "已被认领",  # the real person verified and took the record
    NoticeKind.HOLDER_ADDED: "新增关联人",  # someone else now also holds the record
}
DEFAULT_NOTICE_PHRASE = "有变动"  # a kind newer than this table

WECHAT_NOTICE_FIELDS: tuple[TemplateField, ...] = (
    TemplateField("thing1", "person", 20),
    TemplateField("phrase2", "what", 5),
    TemplateField("time3", "at"),
)
ALIPAY_NOTICE_FIELDS: tuple[TemplateField, ...] = (
    TemplateField("keyword1", "person", 20),
    TemplateField("keyword2", "what", 20),
    TemplateField("keyword3", "at"),
)
NOTICE_FIELDS: Mapping[Platform, tuple[TemplateField, ...]] = {
    Platform.WECHAT: WECHAT_NOTICE_FIELDS,
    Platform.ALIPAY: ALIPAY_NOTICE_FIELDS,
}


def build_notice_message(
    platform: Platform, template_id: str, *, kind: str, name_masked: str, at: datetime
) -> TemplateMessage:
    """The message telling an account that ``kind`` happened to ``name_masked``'s record."""
    values = {
        "person": name_masked.strip() or DEFAULT_PERSON,
        "what": NOTICE_PHRASES.get(kind, DEFAULT_NOTICE_PHRASE),
        "at": beijing_time(at),
    }
    data = {
        f.key: values[f.source] if f.limit is None else values[f.source][: f.limit]
        for f in NOTICE_FIELDS[platform]
    }
    return TemplateMessage(template_id, data, FAMILY_PAGE)
