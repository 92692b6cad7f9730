"""Alipay requests are signed through OpenSSL, byte for byte as the SDK's pure-Python ``rsa``
would sign them (PKCS#1 v1.5 is deterministic), and prepared exactly as the SDK prepares them.
That the emulator (which verifies RSA2 like the gateway) accepts them is proven by every Alipay
login of the integration tests."""

from __future__ import annotations

import datetime
import sys
from typing import Any

import pytest
import rsa as pure_python_rsa
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.util.SignatureUtils import sign_with_rsa2
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.alipay import transport
from channels.alipay.keys import sdk_private_key
from channels.alipay.transport import GatewayClient, Rsa2Signer, SdkLog
from channels.base import ChannelMisconfigured

CONTENTS = [
    "app_id=2021000000000001&charset=utf-8&code=auth-code-1&method=alipay.system.oauth.token",
    'biz_content={"template_id":"t","data":{"keyword1":{"value":"核酸检测结果：阴性"}}}',
    "x=" + "长" * 3000,  # longer than one SHA-256 block many times over, not ASCII
    "",
]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def config_for(key: rsa.RSAPrivateKey) -> AlipayClientConfig:
    config = AlipayClientConfig()
    config.app_id = "2021000000000001"
    config.sign_type = "RSA2"
    config.app_private_key = sdk_private_key(key)
    config.server_url = "http://127.0.0.1:9/gateway.do"
    return config


@pytest.mark.parametrize("content", CONTENTS)
def test_the_openssl_signature_is_the_sdks_byte_for_byte(
    key: rsa.RSAPrivateKey, content: str
) -> None:
    ours = Rsa2Signer(key, "utf-8").sign(content)
    assert ours == sign_with_rsa2(sdk_private_key(key), content, "utf-8")


class _FixedNow(datetime.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> _FixedNow:
        return cls(2026, 12, 6, 15, 30, 0)


def test_a_request_is_prepared_exactly_as_the_sdk_prepares_it(
    key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same query string (common parameters and sign) and business parameters as the SDK's
    own ``__prepare_request``, at the same instant."""
    fixed = type("datetime_module", (), {"datetime": _FixedNow})
    monkeypatch.setattr(transport, "datetime", fixed)
    monkeypatch.setattr(sys.modules[DefaultAlipayClient.__module__], "datetime", fixed)

    def token_request() -> AlipaySystemOauthTokenRequest:
        request = AlipaySystemOauthTokenRequest()
        request.grant_type = "authorization_code"
        request.code = "auth-code-1"
        return request

    monkeypatch.setattr(transport.THREAD_LOCAL, "uuid", "call-1", raising=False)
    sdk = DefaultAlipayClient(config_for(key), logger=SdkLog())
    expected = sdk._DefaultAlipayClient__prepare_request(token_request())
    ours = GatewayClient(config_for(key), session=None).prepare(token_request(), "oauth")  # type: ignore[arg-type]
    assert ours == expected
    assert "sign=" in ours[0]


def test_the_pure_python_rsa_package_is_not_used_to_sign(
    key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("signed with the pure-Python rsa package")

    monkeypatch.setattr(pure_python_rsa, "sign", refuse)
    monkeypatch.setattr(transport.THREAD_LOCAL, "uuid", "call-1", raising=False)
    request = AlipaySystemOauthTokenRequest()
    request.grant_type = "authorization_code"
    request.code = "auth-code-1"
    query, _ = GatewayClient(config_for(key), session=None).prepare(request, "oauth")  # type: ignore[arg-type]
    assert "sign=" in query


def test_only_rsa2_without_content_encryption_is_accepted(key: rsa.RSAPrivateKey) -> None:
    config = config_for(key)
    config.sign_type = "RSA"
    with pytest.raises(ChannelMisconfigured):
        GatewayClient(config, session=None)  # type: ignore[arg-type]
