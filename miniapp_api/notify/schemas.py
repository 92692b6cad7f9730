"""Request and response bodies of the notify feature."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

TemplateId = Annotated[str, Field(min_length=1, max_length=128)]


class SubscriptionsIn(BaseModel):
    """The templates ``wx.requestSubscribeMessage`` / ``my.requestSubscribeMessage`` reported
    as accepted (WeChat: the keys whose value is ``"accept"``; Alipay: ``subscribeEntityIds``)."""

    model_config = ConfigDict(extra="forbid")

    accepted: list[TemplateId] = Field(max_length=20)


class SubscriptionOut(BaseModel):
    template_id: str
    remaining: int = Field(description="messages we may still send with this template")


class SubscriptionsOut(BaseModel):
    subscriptions: list[SubscriptionOut]
    ignored: list[str] = Field(description="accepted templates this service does not send")
