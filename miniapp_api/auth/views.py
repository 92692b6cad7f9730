"""Login and logout routes."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from channels.base import Platform
from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.auth import service
from miniapp_api.auth.schemas import AlipayLoginIn, LoginOut, WechatLoginIn
from miniapp_api.sessions import bearer_token, require_session
from miniapp_api.wiring import wiring

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

LOGIN_ERRORS = (400, 404, 415, 502, 503)


def _login(platform: Platform, code: str) -> ResponseReturnValue:
    wire = wiring()
    # A platform that throttles or fails raises; the app's error handler answers it (a
    # throttled platform with the overload contract: sessions and saved codes keep working).
    with wire.db.session() as session:
        result = service.login(
            session,
            code,
            channel=wire.channel(platform),
            crypto=wire.crypto,
            sessions=wire.sessions,
        )
    return result.model_dump(mode="json")


@bp.post("/wechat")
@operation(
    "Log in with a wx.login code",
    traffic=TrafficClass.CRITICAL,
    body=WechatLoginIn,
    response=LoginOut,
    auth=False,
    errors=LOGIN_ERRORS,
)
def login_wechat() -> ResponseReturnValue:
    return _login(Platform.WECHAT, parse_body(WechatLoginIn).code)


@bp.post("/alipay")
@operation(
    "Log in with a my.getAuthCode auth code",
    traffic=TrafficClass.CRITICAL,
    body=AlipayLoginIn,
    response=LoginOut,
    auth=False,
    errors=LOGIN_ERRORS,
)
def login_alipay() -> ResponseReturnValue:
    return _login(Platform.ALIPAY, parse_body(AlipayLoginIn).auth_code)


@bp.post("/logout")
@operation("End this session", traffic=TrafficClass.NORMAL, status=204, errors=(401,))
def logout() -> ResponseReturnValue:
    wire = wiring()
    require_session(wire.sessions)
    service.logout(wire.sessions, bearer_token())
    return Response(status=204)
