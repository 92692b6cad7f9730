"""Request and response bodies of the notify feature.

A report of ``POST /api/v1/me/subscriptions`` takes one of three forms, each as the mini-program
has it (what each means: :mod:`miniapp_api.notify.reports`):

- ours: ``{"accepted": ["<template id>", ...]}``;
- WeChat: the ``success`` result of ``wx.requestSubscribeMessage``, as it is:
  ``{"errMsg": "requestSubscribeMessage:ok", "<template id>": "accept" | "reject" | "ban" |
  "filter" | "acceptWithAudio" | ...}``;
- Alipay: the result of ``my.requestSubscribeMessage``, as it is: ``{"behavior": "subscribe",
  "keep", "refuse", "show", "result": {"subscribeEntityIds", "subscribedEntityIds",
  "unsubscribedEntityIds", "currentSubscribedEntityIds"}, "<template id>": "accept" |
  "reject"}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

TemplateId = Annotated[str, Field(min_length=1, max_length=128)]
# One prompt offers at most 5 templates (WeChat) or 3 (Alipay); 20 leaves room, bounds the work.
MAX_TEMPLATES = 20
# A raw result's extra keys are template ids with their answer; a key whose value is not a
# string (a flag a newer base library adds) is not a template and is passed over.
RawValue = str | int | float | bool | None


class MessageKind(StrEnum):
    """What a template carries."""

    RESULT = "result"  # a test result (notify/messages.py)
    NOTICE = "notice"  # a notice about family links (notify/notice_messages.py)


class AlipaySubscribeResult(BaseModel):
    """``result`` of ``my.requestSubscribeMessage`` (Alipay's field names)."""

    # Alipay adds fields over time; the lists below are all we read.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    subscribe_entity_ids: list[TemplateId] | None = Field(
        None,
        alias="subscribeEntityIds",
        max_length=MAX_TEMPLATES,
        description="templates subscribed by this prompt (counted)",
    )
    subscribed_entity_ids: list[TemplateId] | None = Field(
        None, alias="subscribedEntityIds", max_length=MAX_TEMPLATES
    )
    unsubscribed_entity_ids: list[TemplateId] | None = Field(
        None, alias="unsubscribedEntityIds", max_length=MAX_TEMPLATES
    )
    current_subscribed_entity_ids: list[TemplateId] | None = Field(
        None, alias="currentSubscribedEntityIds", max_length=MAX_TEMPLATES
    )
    entity_list: list[TemplateId] | None = Field(None, alias="entityList", max_length=MAX_TEMPLATES)


class SubscriptionsIn(BaseModel):
    """What a subscribe prompt reported: ``{"accepted": [...]}``, or the platform's own result
    object as the mini-program got it (WeChat: ``errMsg`` and one key per template; Alipay:
    ``behavior``, ``result`` and one key per template). Other keys are template ids."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    # Typed extras: the keys of a raw result that are template ids (JSON Schema:
    # additionalProperties).
    __pydantic_extra__: dict[str, RawValue] = Field(init=False)

    accepted: list[TemplateId] | None = Field(
        None,
        max_length=MAX_TEMPLATES,
        description="ours: the template ids the resident accepted",
    )
    # WeChat, wx.requestSubscribeMessage
    err_msg: str | None = Field(
        None, alias="errMsg", max_length=256, description='WeChat: "requestSubscribeMessage:ok"'
    )
    err_code: int | None = Field(None, alias="errCode", description="WeChat: a failed prompt")
    # Alipay, my.requestSubscribeMessage
    behavior: str | None = Field(
        None, max_length=32, description='Alipay: "subscribe" (accepted or rejected), "cancel"'
    )
    result: AlipaySubscribeResult | None = None
    keep: bool | None = None
    refuse: bool | None = None
    show: bool | None = None
    error_code: int | str | None = Field(None, alias="errorCode")
    error_message: str | None = Field(None, alias="errorMessage", max_length=256)
    # Alipay, deprecated (still sent by older clients): success, stat, error.
    success: bool | None = None
    stat: str | None = Field(None, max_length=32)
    error: int | str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SubscriptionsIn:
        extra = self.model_extra or {}
        raw_fields = self.model_fields_set - {"accepted"}
        if self.accepted is not None:
            if raw_fields or extra:
                raise ValueError(
                    "send either {'accepted': [...]} or a platform's raw result, not both"
                )
            return self
        if self.err_msg is None and self.behavior is None and self.result is None:
            raise ValueError(
                "expected {'accepted': [...]}, or the result of wx.requestSubscribeMessage "
                "(with errMsg) or of my.requestSubscribeMessage (with behavior)"
            )
        templates = [key for key, value in extra.items() if isinstance(value, str)]
        if len(extra) > 2 * MAX_TEMPLATES or len(templates) > MAX_TEMPLATES:
            raise ValueError(f"at most {MAX_TEMPLATES} templates in one report")
        if any(not 1 <= len(key) <= 128 for key in templates):
            raise ValueError("a template id has 1 to 128 characters")
        return self


class SubscriptionOut(BaseModel):
    template_id: str
    kind: MessageKind = Field(description="what the template carries")
    remaining: int = Field(description="messages we may still send with this template")


class SubscriptionsHeld(BaseModel):
    subscriptions: list[SubscriptionOut] = Field(
        description="each template we send on the account's platform, with the one-time "
        "accepts left (0: ask again before the next message)"
    )


class SubscriptionsOut(SubscriptionsHeld):
    counted: list[str] = Field(description="templates this report added one message to")
    ignored: list[str] = Field(
        description="templates the report names that this service does not send here"
    )
