"""The WeChat login channel: wechatpy against a configured host, errors mapped, token shared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import redis
import requests
from wechatpy.exceptions import WeChatClientException

from channels.base import (
    ChannelUnavailable,
    InvalidPayload,
    LoginIdentity,
    MessageReceipt,
    Platform,
    RealNameClaim,
    RealNameStart,
    RealNameVerdict,
    VerifiedPhone,
    names_platform,
)
from channels.wechat import realname
from channels.wechat.client import RebasedWeChatClient
from channels.wechat.crypto import decrypt_user_data
from channels.wechat.errors import TOKEN_ERRCODES, error_for, token_fetch_error
from channels.wechat.token import AccessTokenCache

_CODE_PROOF = frozenset({"code"})
_LEGACY_PROOF = frozenset({"encrypted_data", "iv"})


class WechatChannel:
    """:class:`channels.base.LoginChannel` for a WeChat mini-program.

    ``api_base_url`` is ``https://api.weixin.qq.com`` in production and the emulator's URL in
    development and tests; ``redis`` holds the access token shared by every worker;
    ``miniprogram_state`` is the build (formal, trial, developer) subscribe messages open.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base_url: str,
        redis: redis.Redis,
        timeout: float = 3.0,
        miniprogram_state: str = "formal",
    ) -> None:
        self._app_id = app_id
        # Which build a subscribe message opens: formal, trial or developer.
        self._miniprogram_state = miniprogram_state
        self._client = RebasedWeChatClient(app_id, app_secret, api_base_url, timeout)
        # Long enough for one fetch (connect + read timeouts) before waiters give up on the holder.
        self._tokens = AccessTokenCache(
            redis, app_id, self._fetch_token, lock_ttl=2 * timeout + 1.0
        )
        self._client.token_source = self._tokens.get

    def __repr__(self) -> str:
        return f"WechatChannel(app_id={self._app_id!r}, base_url={self._client.base_url!r})"

    @property
    def platform(self) -> Platform:
        return Platform.WECHAT

    @property
    def app_id(self) -> str:
        return self._app_id

    # the LoginChannel contract ------------------------------------------------
    @names_platform
    def exchange_code(self, code: str) -> LoginIdentity:
        """``jscode2session``: openid, unionid and session_key for a ``wx.login`` code."""
        result = self._call("jscode2session", lambda: self._client.wxa.code_to_session(code))
        openid, session_key = result.get("openid"), result.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str):
            raise ChannelUnavailable("wechat jscode2session answered without openid/session_key")
        unionid = result.get("unionid")
        return LoginIdentity(
            Platform.WECHAT,
            self._app_id,
            openid,
            unionid if isinstance(unionid, str) else None,
            session_key,
        )

    @names_platform
    def verify_phone(self, proof: Mapping[str, str], session_key: str | None) -> VerifiedPhone:
        """``{"code"}`` via ``getuserphonenumber``, or legacy ``{"encrypted_data", "iv"}``."""
        fields = frozenset(proof)
        if not all(isinstance(v, str) and v for v in proof.values()):
            raise InvalidPayload("phone proof fields must be non-empty strings")
        if fields == _CODE_PROOF:
            result = self._call_with_token(
                "getuserphonenumber",
                lambda token: self._client.post(
                    "wxa/business/getuserphonenumber",
                    params={"access_token": token},
                    data={"code": proof["code"]},
                    api_base_url=self._client.base_url,
                ),
            )
            info = result.get("phone_info")
        elif fields == _LEGACY_PROOF:
            if not session_key:
                raise InvalidPayload("the legacy phone proof needs the login's session_key")
            info = decrypt_user_data(
                self._app_id, session_key, proof["encrypted_data"], proof["iv"]
            )
        else:
            raise InvalidPayload('expected {"code"} or {"encrypted_data", "iv"}')
        return _phone_from(info, self._app_id)

    @names_platform
    def send_message(
        self,
        recipient: str,
        template_id: str,
        data: Mapping[str, str],
        page: str | None = None,
    ) -> MessageReceipt:
        """``subscribeMessage.send``; 43101 (no accepted subscription) is SubscriptionRefused."""
        body: dict[str, Any] = {
            "touser": recipient,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
            "miniprogram_state": self._miniprogram_state,
        }
        if page is not None:
            body["page"] = page
        # The generic post rather than wxa.send_subscribe_message: that one takes no params, so
        # the token it used could not be named when asking for a refresh.
        result = self._call_with_token(
            "subscribe_send",
            lambda token: self._client.post(
                "cgi-bin/message/subscribe/send",
                params={"access_token": token},
                data=body,
                api_base_url=self._client.base_url,
            ),
        )
        msgid = result.get("msgid")
        return MessageReceipt(Platform.WECHAT, recipient, None if msgid is None else str(msgid))

    @names_platform
    def start_real_name_check(
        self, subject: str, claim: RealNameClaim, reference: str
    ) -> RealNameStart:
        """No call: the mini-program takes the user to the city service's consent page."""
        return realname.REAL_NAME_START

    @names_platform
    def check_real_name(
        self, subject: str, claim: RealNameClaim, proof: Mapping[str, str]
    ) -> RealNameVerdict:
        """``checkrealnameinfo`` with the consent page's ``{"code"}``, bound to ``subject``."""
        code = proof["code"] if frozenset(proof) == _CODE_PROOF else None
        if not isinstance(code, str) or not code:
            raise InvalidPayload('expected exactly {"code"}, a non-empty string')
        body = realname.check_body(subject, claim, code)
        result = self._call_with_token(
            "checkrealnameinfo",
            lambda token: self._client.post(
                realname.CHECK_PATH,
                params={"access_token": token},
                data=body,
                api_base_url=self._client.base_url,
            ),
        )
        return realname.verdict_from(result)

    # plumbing -------------------------------------------------------------------
    def _call_with_token(self, api: str, call: Callable[[str], Any]) -> dict[str, Any]:
        """Run ``call(token)``; on a token errcode refresh once (under the lock) and retry."""
        token = self._tokens.get()
        try:
            return self._call(api, lambda: call(token))
        except _TokenRefusedError:
            pass
        fresh = self._tokens.refresh(stale=token)
        try:
            return self._call(api, lambda: call(fresh))
        except _TokenRefusedError as exc:
            raise ChannelUnavailable(
                f"wechat {api} refused a freshly fetched access token", platform_code=exc.errcode
            ) from None

    def _call(self, api: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one wechatpy call, turning its failures into :class:`ChannelError` subclasses."""
        try:
            result = call()
        except WeChatClientException as exc:
            if exc.errcode is None:  # HTTP status error
                status = getattr(exc.response, "status_code", None)
                raise ChannelUnavailable(f"wechat {api} answered HTTP {status}") from None
            errcode = int(exc.errcode)
            if errcode in TOKEN_ERRCODES:
                raise _TokenRefusedError(errcode) from None
            raise error_for(errcode, str(exc.errmsg), api) from None
        except requests.RequestException as exc:
            # ``from None``: requests' messages carry the URL, whose query has secrets in it.
            raise ChannelUnavailable(f"wechat {api} unreachable ({type(exc).__name__})") from None
        if not isinstance(result, dict):
            raise ChannelUnavailable(f"wechat {api} answered something other than JSON")
        return result

    def _fetch_token(self) -> tuple[str, int]:
        """One token fetch, for the cache (which holds the lock while this runs)."""
        try:
            result = self._call("token", self._client.fetch_access_token)
        except _TokenRefusedError as exc:  # on the token endpoint, 40001 means a wrong secret
            raise token_fetch_error(exc.errcode, "invalid credential") from None
        token, expires_in = result.get("access_token"), result.get("expires_in", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise ChannelUnavailable("wechat token answered without access_token")
        return token, expires_in


class _TokenRefusedError(Exception):
    """Internal: the access token was refused (40001/40014/42001); never leaves the adapter."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode


def _phone_from(info: object, app_id: str) -> VerifiedPhone:
    """The phone of a ``phone_info`` / decrypted payload, its watermark checked."""
    if not isinstance(info, dict):
        raise ChannelUnavailable("wechat phone answer has no phone_info")
    watermark = info.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != app_id:
        raise InvalidPayload("phone number was issued for another app")
    phone, country_code = info.get("purePhoneNumber"), info.get("countryCode", "86")
    if not isinstance(phone, str) or not phone:
        raise InvalidPayload("phone payload has no purePhoneNumber")
    return VerifiedPhone(phone, str(country_code))
