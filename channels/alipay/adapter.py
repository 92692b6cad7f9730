"""The Alipay adapter: ``alipay-sdk-python`` against a configured gateway, as a ``LoginChannel``."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import requests
import requests.adapters
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.domain.AlipayOpenAppMiniTemplatemessageSendModel import (
    AlipayOpenAppMiniTemplatemessageSendModel,
)
from alipay.aop.api.request.AlipayOpenAppMiniTemplatemessageSendRequest import (
    AlipayOpenAppMiniTemplatemessageSendRequest,
)
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.response.AlipayOpenAppMiniTemplatemessageSendResponse import (
    AlipayOpenAppMiniTemplatemessageSendResponse,
)
from alipay.aop.api.response.AlipaySystemOauthTokenResponse import AlipaySystemOauthTokenResponse
from alipay.aop.api.response.AlipayUserCertifyOpenInitializeResponse import (
    AlipayUserCertifyOpenInitializeResponse,
)
from alipay.aop.api.response.AlipayUserCertifyOpenQueryResponse import (
    AlipayUserCertifyOpenQueryResponse,
)

from channels.alipay import certify
from channels.alipay.errors import SUCCESS, error_for
from channels.alipay.keys import (
    load_aes_key,
    load_private_key,
    load_public_key,
    sdk_private_key,
    sdk_public_key,
)
from channels.alipay.phone import open_phone_payload
from channels.alipay.transport import GatewayClient, check_gateway_url
from channels.base import (
    ChannelUnavailable,
    InvalidCode,
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

# Alipay user_ids are "2088" and 12 digits; newer apps may be given open_ids instead.
_USER_ID = re.compile(r"2088\d{12}")

log = logging.getLogger(__name__)
BEIJING_UTC_OFFSET = 8 * 3600


class AlipayChannel:
    """One Alipay mini-program, as a :class:`channels.base.LoginChannel`.

    Keys are PEM (PKCS#8 or PKCS#1 private, SubjectPublicKeyInfo public) or bare base64 bodies;
    ``aes_key`` is the app's base64 content encryption key. ``gateway_url`` is
    ``https://openapi.alipay.com/gateway.do`` in production and the emulator's in tests; a bad
    key or URL raises :class:`channels.base.ChannelMisconfigured` here, at start-up.
    """

    def __init__(
        self,
        app_id: str,
        app_private_key: str,
        alipay_public_key: str,
        aes_key: str,
        gateway_url: str,
        timeout: float = 3.0,
        *,
        session: requests.Session | None = None,
    ) -> None:
        public_key = load_public_key(alipay_public_key)
        config = AlipayClientConfig()
        config.app_id = app_id
        config.sign_type = "RSA2"
        config.app_private_key = sdk_private_key(load_private_key(app_private_key))
        config.alipay_public_key = sdk_public_key(public_key)
        config.server_url = check_gateway_url(gateway_url)
        config.timeout = timeout
        self._app_id = app_id
        self._public_key = public_key
        self._aes_key = load_aes_key(aes_key)
        self._own_session = session is None
        self._session = session or _pooled_session()
        self._client = GatewayClient(config, self._session)
        if time.localtime().tm_gmtoff != BEIJING_UTC_OFFSET:
            # The SDK stamps requests with local time; the gateway reads them as Beijing time.
            log.warning("alipay: the process zone is not UTC+8; set TZ=Asia/Shanghai")

    def __repr__(self) -> str:
        return f"AlipayChannel(app_id={self._app_id!r}, gateway_url={self._client.url!r})"

    def close(self) -> None:
        """Close pooled connections, unless the HTTP session was handed to us."""
        if self._own_session:
            self._session.close()

    @property
    def platform(self) -> Platform:
        return Platform.ALIPAY

    @property
    def app_id(self) -> str:
        return self._app_id

    @names_platform
    def exchange_code(self, code: str) -> LoginIdentity:
        """``alipay.system.oauth.token``; the subject is the user_id, else the open_id."""
        if not code:
            raise InvalidCode("empty auth code", platform_code="isv.code-invalid")
        request = AlipaySystemOauthTokenRequest()
        request.grant_type = "authorization_code"
        request.code = code
        response = AlipaySystemOauthTokenResponse()
        self._call(request, response)
        # The access token is deliberately dropped: we call no user-authorised API with it.
        subject = response.user_id or response.open_id
        if not isinstance(subject, str) or not subject:
            raise ChannelUnavailable("alipay oauth token answer has neither user_id nor open_id")
        union_id = response.union_id if isinstance(response.union_id, str) else None
        return LoginIdentity(Platform.ALIPAY, self._app_id, subject, union_id or None)

    @names_platform
    def verify_phone(self, proof: Mapping[str, str], session_key: str | None) -> VerifiedPhone:
        """Check a ``{"response": <my.getPhoneNumber text>}`` proof; no session_key is needed."""
        if set(proof) != {"response"} or not isinstance(proof["response"], str):
            raise InvalidPayload("expected exactly the field 'response'")
        return VerifiedPhone(open_phone_payload(proof["response"], self._public_key, self._aes_key))

    @names_platform
    def send_message(
        self,
        recipient: str,
        template_id: str,
        data: Mapping[str, str],
        page: str | None = None,
    ) -> MessageReceipt:
        """``alipay.open.app.mini.templatemessage.send`` to a user_id or open_id."""
        model = AlipayOpenAppMiniTemplatemessageSendModel()
        if _USER_ID.fullmatch(recipient):
            model.to_user_id = recipient
        else:
            model.to_open_id = recipient
        model.user_template_id = template_id
        model.page = page
        model.data = json.dumps(
            {key: {"value": value} for key, value in data.items()}, ensure_ascii=False
        )
        request = AlipayOpenAppMiniTemplatemessageSendRequest(biz_model=model)
        self._call(request, AlipayOpenAppMiniTemplatemessageSendResponse())
        return MessageReceipt(Platform.ALIPAY, recipient, None)

    @names_platform
    def start_real_name_check(
        self, subject: str, claim: RealNameClaim, reference: str
    ) -> RealNameStart:
        """``alipay.user.certify.open.initialize``; the mini-program runs ``my.startAPVerify``."""
        response = AlipayUserCertifyOpenInitializeResponse()
        self._call(certify.initialize_request(self._app_id, claim, reference), response)
        return RealNameStart(
            Platform.ALIPAY, certify_id=certify.certify_id_from(response.certify_id)
        )

    @names_platform
    def check_real_name(
        self, subject: str, claim: RealNameClaim, proof: Mapping[str, str]
    ) -> RealNameVerdict:
        """``alipay.user.certify.open.query`` for ``{"certify_id"}``; "F" is UNVERIFIED.

        Alipay answers only passed or not: that the certify_id was started for this claim and
        this login is the caller's to make sure of (the LoginChannel contract).
        """
        response = AlipayUserCertifyOpenQueryResponse()
        self._call(certify.query_request(proof), response)
        return certify.verdict_from(response.passed)

    def _call(self, request: Any, response: Any) -> None:
        """Execute ``request`` and fill ``response``; raise the mapped error unless it succeeded."""
        api = str(request.get_params()["method"])
        node = self._client.execute(request)
        try:
            response.parse_response_content(node)
        except (ValueError, TypeError):
            raise ChannelUnavailable(f"alipay {api}: unreadable answer") from None
        # The SDK's ``is_success`` only looks at sub_code; a bare "20000" would pass it.
        code = None if response.code is None else str(response.code)
        sub_code = str(response.sub_code) if response.sub_code else None
        if sub_code or (code is not None and code != SUCCESS):
            raise error_for(code, sub_code, str(response.sub_msg or ""), api)


def _pooled_session(pool_size: int = 32) -> requests.Session:
    """A session keeping as many gateway connections as a gthread worker has threads."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return session
