"""The body of ``GET /api/v1/app/config``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from miniapp_api.notify.schemas import MessageKind

# WeChat's builds (subscribeMessage.send ``miniprogram_state``); [NOTIFY] MINIPROGRAM_STATE.
MiniprogramState = Literal["formal", "trial", "developer"]


class TemplateOut(BaseModel):
    id: str = Field(description="the subscribe-message template id to prompt for")
    kind: MessageKind = Field(description="what its messages carry")
    fields: list[str] = Field(description="the template's keys, as chosen in the console")
    page: str = Field(description="the mini-program page its messages open")


class PlatformOut(BaseModel):
    app_id: str = Field(description="our mini-program on this platform")
    open_page: str = Field(
        description="the page to open this mini-program at from the other platform's "
        "(the other_platform alternative of a 429/503): the results page"
    )
    templates: list[TemplateOut] = Field(
        description="the templates to pass to requestSubscribeMessage (tmplIds / entityIds); "
        "empty: nothing is pushed on this platform"
    )
    miniprogram_state: MiniprogramState | None = Field(
        description="WeChat: the build our messages open; null on Alipay"
    )


class AppConfigOut(BaseModel):
    wechat: PlatformOut | None = Field(description="null: login with WeChat is not enabled")
    alipay: PlatformOut | None = Field(description="null: login with Alipay is not enabled")
    h5_lookup_url: str = Field(description="the browser lookup page (needs neither platform)")
    documents: dict[str, str] = Field(
        description="each legal document's current version (GET /api/v1/legal for the rest)"
    )
