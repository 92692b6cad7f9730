"""Alipay requests are signed, and the gateway's answers verified, through OpenSSL, exactly as
the SDK's pure-Python ``rsa`` would: the same signature bytes (PKCS#1 v1.5 is deterministic), the
same prepared request, the same answers accepted and refused. That the emulator (which verifies
and signs RSA2 like the gateway) agrees is proven by every Alipay login of the integration tests."""

from __future__ import annotations

import base64
import datetime
import json
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
import rsa as pure_python_rsa
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.util.SignatureUtils import sign_with_rsa2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from channels.alipay import transport
from channels.alipay.keys import sdk_private_key, sdk_public_key
from channels.alipay.transport import GatewayClient, Rsa2Signer, SdkLog
from channels.base import ChannelMisconfigured, ChannelUnavailable

CONTENTS = [
    "app_id=2021000000000001&charset=utf-8&code=auth-code-1&method=alipay.system.oauth.token",
    'biz_content={"template_id":"t","data":{"keyword1":{"value":"核酸检测结果：阴性"}}}',
    "x=" + "长" * 3000,  # longer than one SHA-256 block many times over, not ASCII
    "",
]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def config_for(
    key: rsa.RSAPrivateKey, alipay_key: rsa.RSAPublicKey | None = None
) -> AlipayClientConfig:
    config = AlipayClientConfig()
    config.app_id = "2021000000000001"
    config.sign_type = "RSA2"
    config.app_private_key = sdk_private_key(key)
    config.alipay_public_key = sdk_public_key(alipay_key or key.public_key())
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


# --- Answers: what the SDK's __parse_response accepts, GatewayClient.parse_answer accepts --------

ACCESS_TOKEN = "authusrB-secret-access-token"
TOKEN_NODE = {
    "code": "10000",
    "msg": "Success",
    "user_id": "2088000000000001",
    "access_token": ACCESS_TOKEN,
    "expires_in": 1296000,
}
ERROR_NODE = {
    "code": "40002",
    "msg": "Invalid Arguments",
    "sub_code": "isv.code-invalid",
    "sub_msg": "授权码code无效",
}
OAUTH = "alipay_system_oauth_token_response"


class Keys(NamedTuple):
    alipay: rsa.RSAPrivateKey  # signs the answers; its public half is configured
    impostor: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(*(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab"))


def compact(node: dict[str, Any]) -> str:
    return json.dumps(node, separators=(",", ":"), ensure_ascii=False)


def sign_of(key: rsa.RSAPrivateKey, text: str, algorithm: hashes.HashAlgorithm) -> str:
    return base64.b64encode(key.sign(text.encode(), PKCS1v15(), algorithm)).decode()


def answer(
    key: rsa.RSAPrivateKey,
    node: str,
    *,
    name: str = OAUTH,
    gap: str = "",
    algorithm: hashes.HashAlgorithm | None = None,
    sign: str | None = None,
) -> bytes:
    """``{"<name>": <node>, "sign": "<sign>"}`` as the gateway writes it, ``gap`` between tokens."""
    sign = sign_of(key, node, algorithm or hashes.SHA256()) if sign is None else sign
    return f'{{"{name}"{gap}:{gap}{node}{gap},{gap}"sign"{gap}:{gap}"{sign}"}}'.encode()


def tampered(sign: str) -> str:
    middle = len(sign) // 2
    return sign[:middle] + ("A" if sign[middle] != "A" else "B") + sign[middle + 1 :]


def strayed(sign: str) -> str:
    """``sign`` with a backslash and a space in it: not base64, skipped by ``b64decode``."""
    return f"{sign[:100]}\\ {sign[100:]}"


def short_signed(key: rsa.RSAPrivateKey) -> bytes:
    """A good signature whose first byte is zero, sent without it (one length in ~256)."""
    for nonce in range(20_000):
        node = compact({**TOKEN_NODE, "nonce": nonce})
        signature = key.sign(node.encode(), PKCS1v15(), hashes.SHA256())
        if signature[0] == 0:
            return answer(key, node, sign=base64.b64encode(signature[1:]).decode())
    raise AssertionError("no signature with a leading zero byte")


SIGNED = compact(TOKEN_NODE)
# (the answer, from the keys; whether the SDK accepts it)
ANSWERS: dict[str, tuple[Callable[[Keys], bytes], bool]] = {
    "compact": (lambda k: answer(k.alipay, SIGNED), True),
    "spaces, tabs and newlines between the tokens": (
        lambda k: answer(k.alipay, json.dumps(TOKEN_NODE, indent=2), gap=" \t\n "),
        True,
    ),
    "not ASCII": (lambda k: answer(k.alipay, compact({**TOKEN_NODE, "msg": "成功"})), True),
    "error_response": (
        lambda k: answer(k.alipay, compact(ERROR_NODE), name="error_response"),
        True,
    ),
    "a sign inside the node: the last one counts": (
        lambda k: answer(k.alipay, '{"inner":{"a":1},"sign":"not-this","code":"10000"}'),
        True,
    ),
    "stray characters in the sign, skipped by base64": (
        lambda k: answer(
            k.alipay, SIGNED, sign=strayed(sign_of(k.alipay, SIGNED, hashes.SHA256()))
        ),
        True,
    ),
    # rsa.verify takes whichever hash the signature names, weak ones too (S303: that is the
    # point); ours takes RSA2's SHA-256 only (NOT_RSA2).
    "SHA-1": (lambda k: answer(k.alipay, SIGNED, algorithm=hashes.SHA1()), True),  # noqa: S303
    "MD5": (lambda k: answer(k.alipay, SIGNED, algorithm=hashes.MD5()), True),  # noqa: S303
    "SHA-512": (lambda k: answer(k.alipay, SIGNED, algorithm=hashes.SHA512()), True),
    "SHA3-256": (lambda k: answer(k.alipay, SIGNED, algorithm=hashes.SHA3_256()), True),
    "a hash rsa does not know (SHA-512/224)": (
        lambda k: answer(k.alipay, SIGNED, algorithm=hashes.SHA512_224()),
        False,
    ),
    "tampered body": (
        lambda k: answer(k.alipay, SIGNED).replace(b"2088000000000001", b"2088000000000002"),
        False,
    ),
    "tampered sign": (
        lambda k: answer(
            k.alipay, SIGNED, sign=tampered(sign_of(k.alipay, SIGNED, hashes.SHA256()))
        ),
        False,
    ),
    "signed by another key": (lambda k: answer(k.impostor, SIGNED), False),
    "sign with broken base64 padding": (
        lambda k: answer(k.alipay, SIGNED, sign=sign_of(k.alipay, SIGNED, hashes.SHA256())[:-1]),
        False,
    ),
    "a signature without its leading zero byte": (lambda k: short_signed(k.alipay), False),
    "unsigned": (lambda k: json.dumps({OAUTH: TOKEN_NODE}).encode(), False),
    "unsigned error_response": (
        lambda k: json.dumps({"error_response": ERROR_NODE}).encode(),
        False,
    ),
    "sign before the node": (
        lambda k: (
            f'{{"sign":"{sign_of(k.alipay, SIGNED, hashes.SHA256())}","{OAUTH}":{SIGNED}}}'.encode()
        ),
        False,
    ),
    "cut inside the sign": (lambda k: answer(k.alipay, SIGNED)[:-10], False),
    "not UTF-8": (lambda k: answer(k.alipay, SIGNED).replace(b"Success", b"Succ\xffss"), False),
    "an HTML error page": (lambda k: b"<html><body>502 Bad Gateway</body></html>", False),
    "empty": (lambda k: b"", False),
}

# Answers the SDK accepts and we refuse, as it refuses a tampered one: signed over another hash.
NOT_RSA2 = {"SHA-1", "MD5", "SHA-512", "SHA3-256"}


def outcome(parse: Callable[[bytes], str], raw: bytes) -> tuple[str, object]:
    """("accepted", the node text) or ("refused", the exception class)."""
    try:
        return "accepted", parse(raw)
    except Exception as exc:  # whichever the SDK raises is what we compare against
        return "refused", type(exc)


@pytest.fixture
def call_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's per-call thread-local, as ``execute`` leaves it (no logger: nothing to leak)."""
    monkeypatch.setattr(transport.THREAD_LOCAL, "uuid", "call-1", raising=False)
    monkeypatch.setattr(transport.THREAD_LOCAL, "logger", None, raising=False)


def clients(keys: Keys, app_key: rsa.RSAPrivateKey) -> tuple[Any, GatewayClient]:
    config = config_for(app_key, keys.alipay.public_key())
    return DefaultAlipayClient(config), GatewayClient(config, session=None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("call_state")
@pytest.mark.parametrize("case", ANSWERS)
def test_an_answer_is_accepted_or_refused_as_the_sdk_does_but_rsa2_only(
    keys: Keys, key: rsa.RSAPrivateKey, case: str
) -> None:
    make, accepted = ANSWERS[case]
    raw = make(keys)
    sdk, ours = clients(keys, key)
    expected = outcome(sdk._DefaultAlipayClient__parse_response, raw)
    assert expected[0] == ("accepted" if accepted else "refused")
    if case in NOT_RSA2:
        tampered = ANSWERS["tampered body"][0](keys)
        expected = outcome(sdk._DefaultAlipayClient__parse_response, tampered)
    assert outcome(ours.parse_answer, raw) == expected


@pytest.mark.usefixtures("call_state")
def test_an_error_response_is_the_node_returned(keys: Keys, key: rsa.RSAPrivateKey) -> None:
    node = compact(ERROR_NODE)
    _, ours = clients(keys, key)
    assert ours.parse_answer(answer(keys.alipay, node, name="error_response")) == node


@pytest.mark.usefixtures("call_state")
def test_a_bare_base64_alipay_key_verifies_as_in_the_sdk(
    keys: Keys, key: rsa.RSAPrivateKey
) -> None:
    config = config_for(key, keys.alipay.public_key())
    config.alipay_public_key = "".join(config.alipay_public_key.splitlines()[1:-1])
    raw = answer(keys.alipay, SIGNED)
    sdk_node = DefaultAlipayClient(config)._DefaultAlipayClient__parse_response(raw)
    assert GatewayClient(config, session=None).parse_answer(raw) == sdk_node == SIGNED  # type: ignore[arg-type]


def test_an_alipay_key_that_does_not_load_is_misconfiguration(key: rsa.RSAPrivateKey) -> None:
    config = config_for(key)
    config.alipay_public_key = "not a key"
    with pytest.raises(ChannelMisconfigured):
        GatewayClient(config, session=None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("call_state")
def test_the_pure_python_rsa_package_is_not_used_to_verify(
    keys: Keys, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("verified with the pure-Python rsa package")

    monkeypatch.setattr(pure_python_rsa, "verify", refuse)
    _, ours = clients(keys, key)
    assert ours.parse_answer(answer(keys.alipay, SIGNED)) == SIGNED


class _Answering:
    """A ``requests.Session`` stand-in: every POST gets ``body`` back with HTTP 200."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def post(self, url: str, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(status_code=200, content=self.body)


def execute_against(body: bytes, keys: Keys, key: rsa.RSAPrivateKey) -> str:
    client = GatewayClient(config_for(key, keys.alipay.public_key()), _Answering(body))  # type: ignore[arg-type]
    request = AlipaySystemOauthTokenRequest()
    request.grant_type, request.code = "authorization_code", "auth-code-1"
    return client.execute(request)


@pytest.mark.parametrize("case", [case for case, (_, accepted) in ANSWERS.items() if not accepted])
def test_a_refused_answer_is_unavailable_and_quotes_nothing(
    keys: Keys, key: rsa.RSAPrivateKey, case: str
) -> None:
    with pytest.raises(ChannelUnavailable, match="signature") as caught:
        execute_against(ANSWERS[case][0](keys), keys, key)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert ACCESS_TOKEN not in str(caught.value)


def test_a_signed_error_response_is_executed_to_its_node(
    keys: Keys, key: rsa.RSAPrivateKey
) -> None:
    node = compact(ERROR_NODE)
    assert execute_against(answer(keys.alipay, node, name="error_response"), keys, key) == node


def test_an_unsigned_invalid_app_id_error_response_is_misconfiguration(
    keys: Keys, key: rsa.RSAPrivateKey
) -> None:
    node = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"}
    with pytest.raises(ChannelMisconfigured) as caught:
        execute_against(json.dumps({"error_response": node}).encode(), keys, key)
    assert caught.value.platform_code == "isv.invalid-app-id"
