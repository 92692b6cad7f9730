"""Request and response bodies of the login endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.residents.schemas import AccountOut, ResidentOut


class WechatLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=256, description="the code from wx.login")
    openid: str | None = Field(
        default=None,
        max_length=256,
        description="Ignored. Identity comes from exchanging the code on the server only.",
    )


class AlipayLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auth_code: str = Field(min_length=1, max_length=256, description="from my.getAuthCode")
    user_id: str | None = Field(
        default=None,
        max_length=256,
        description="Ignored. Identity comes from exchanging the code on the server only.",
    )


class LoginOut(BaseModel):
    token: str
    expires_in: int
    account: AccountOut
    self: ResidentOut | None
