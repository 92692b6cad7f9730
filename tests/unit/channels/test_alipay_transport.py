"""The HTTP step under the SDK: the configured host *and port*, per client, nothing global."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.util import WebUtils
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from channels.alipay import AlipayChannel
from channels.alipay.keys import load_private_key, sdk_private_key
from channels.alipay.transport import SDK_LOGGER_NAME
from channels.base import ChannelMisconfigured, ChannelUnavailable
from channels.emulator.config import generate_rsa_private_key_pem

ACCESS_TOKEN = "authusrB-secret-access-token"


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class StubGateway:
    """A loopback HTTP server that records requests and answers like the Alipay gateway."""

    server: ThreadingHTTPServer
    signing_key: rsa.RSAPrivateKey
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: Callable[[StubGateway], tuple[int, bytes]] | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gateway.do"

    @property
    def user_id(self) -> str:
        return f"2088{self.port:012d}"

    def signed(self, node: dict[str, Any]) -> bytes:
        name = "alipay_system_oauth_token_response"
        text = json.dumps(node, separators=(",", ":"))
        signature = self.signing_key.sign(text.encode(), PKCS1v15(), hashes.SHA256())
        sign = base64.b64encode(signature).decode()
        return f'{{"{name}":{text},"sign":"{sign}"}}'.encode()

    def token_answer(self) -> tuple[int, bytes]:
        node = {"user_id": self.user_id, "access_token": ACCESS_TOKEN, "expires_in": 300}
        return 200, self.signed(node)


def start_stub(signing_key: rsa.RSAPrivateKey) -> StubGateway:
    stub: StubGateway

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            url = urlsplit(self.path)
            stub.requests.append(
                {
                    "host": self.headers.get("Host"),
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "form": parse_qs(body),
                }
            )
            status, payload = (stub.answer or StubGateway.token_answer)(stub)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output quiet

    stub = StubGateway(ThreadingHTTPServer(("127.0.0.1", 0), Handler), signing_key)
    threading.Thread(target=stub.server.serve_forever, args=(0.05,), daemon=True).start()
    return stub


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def app_key() -> str:
    return generate_rsa_private_key_pem()


@pytest.fixture
def stubs(platform_key: rsa.RSAPrivateKey) -> Iterator[list[StubGateway]]:
    running = [start_stub(platform_key), start_stub(platform_key)]
    yield running
    for stub in running:
        stub.server.shutdown()
        stub.server.server_close()


@pytest.fixture
def make_channel(
    app_key: str, platform_key: rsa.RSAPrivateKey
) -> Iterator[Callable[..., AlipayChannel]]:
    made: list[AlipayChannel] = []

    def make(url: str, timeout: float = 2.0) -> AlipayChannel:
        channel = AlipayChannel(
            "2021000000000001",
            app_key,
            pem(platform_key),
            base64.b64encode(bytes(16)).decode(),
            url,
            timeout,
        )
        made.append(channel)
        return channel

    yield make
    for channel in made:
        channel.close()


def test_request_goes_to_the_configured_host_and_port(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    stub = stubs[0]
    identity = make_channel(stub.url).exchange_code("auth-code-1")
    assert identity.subject == stub.user_id
    (seen,) = stub.requests
    assert seen["host"] == f"127.0.0.1:{stub.port}"
    assert seen["path"] == "/gateway.do"
    assert seen["query"]["method"] == ["alipay.system.oauth.token"]
    assert seen["query"]["sign_type"] == ["RSA2"]
    assert seen["form"] == {"code": ["auth-code-1"], "grant_type": ["authorization_code"]}


def test_two_clients_with_different_ports_each_reach_their_own(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    first, second = stubs
    channels = {first.port: make_channel(first.url), second.port: make_channel(second.url)}
    calls = [first.port, second.port] * 10

    def exchange(port: int) -> tuple[int, str]:
        return port, channels[port].exchange_code(f"code-{port}").subject

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(exchange, calls))
    assert results == [(port, f"2088{port:012d}") for port in calls]
    assert len(first.requests) == len(second.requests) == 10
    assert {r["form"]["code"][0] for r in first.requests} == {f"code-{first.port}"}
    assert {r["form"]["code"][0] for r in second.requests} == {f"code-{second.port}"}


def test_sdk_transport_is_left_alone_for_other_clients(
    stubs: list[StubGateway],
    make_channel: Callable[..., AlipayChannel],
    app_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk_posts: list[str] = []

    def recording_do_post(url: str, *args: Any, **kwargs: Any) -> bytes:
        sdk_posts.append(url)
        return stubs[1].token_answer()[1]

    # The name DefaultAlipayClient.execute looks up (imported there from WebUtils with *).
    monkeypatch.setattr("alipay.aop.api.DefaultAlipayClient.do_post", recording_do_post)
    make_channel(stubs[0].url).exchange_code("ours")
    config = AlipayClientConfig()
    config.app_id = "2021000000000002"
    config.app_private_key = sdk_private_key(load_private_key(app_key))
    config.alipay_public_key = pem(stubs[1].signing_key)
    config.server_url = stubs[1].url
    plain = DefaultAlipayClient(config)
    request = AlipaySystemOauthTokenRequest()
    request.grant_type, request.code = "authorization_code", "theirs"
    assert stubs[1].user_id in plain.execute(request)
    assert sdk_posts == [stubs[1].url]  # only the plain SDK client used the SDK's do_post
    assert len(stubs[0].requests) == 1


def test_sdk_own_transport_cannot_take_an_explicit_port() -> None:
    # Why GatewayClient exists; when this starts failing, the SDK fixed it: revisit transport.py.
    with pytest.raises(TypeError):
        WebUtils.get_http_connection("http://127.0.0.1:8080/gateway.do", "a=b", 1)


def test_unreachable_gateway_is_unavailable(make_channel: Callable[..., AlipayChannel]) -> None:
    with pytest.raises(ChannelUnavailable, match="unreachable"):
        make_channel("http://127.0.0.1:9/gateway.do", timeout=0.5).exchange_code("code")


def test_http_error_status_is_unavailable(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    stubs[0].answer = lambda stub: (502, b"bad gateway")
    with pytest.raises(ChannelUnavailable, match="HTTP 502"):
        make_channel(stubs[0].url).exchange_code("code")


def test_answer_signed_by_another_key_is_refused(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = StubGateway(stubs[0].server, impostor)
    stubs[0].answer = lambda stub: forged.token_answer()
    with pytest.raises(ChannelUnavailable, match="signature") as caught:
        make_channel(stubs[0].url).exchange_code("code")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the SDK's message quotes the whole answer
    assert ACCESS_TOKEN not in str(caught.value)


def test_unsigned_answer_is_refused(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    node = {"user_id": "2088000000000001", "access_token": ACCESS_TOKEN}
    body = json.dumps({"alipay_system_oauth_token_response": node}).encode()
    stubs[0].answer = lambda stub: (200, body)
    with pytest.raises(ChannelUnavailable, match="signature"):
        make_channel(stubs[0].url).exchange_code("code")


def test_unsigned_invalid_app_id_answer_is_misconfiguration(
    stubs: list[StubGateway], make_channel: Callable[..., AlipayChannel]
) -> None:
    node = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"}
    body = json.dumps({"alipay_system_oauth_token_response": node}).encode()
    stubs[0].answer = lambda stub: (200, body)
    with pytest.raises(ChannelMisconfigured) as caught:
        make_channel(stubs[0].url).exchange_code("code")
    assert caught.value.platform_code == "isv.invalid-app-id"


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8080/gateway.do",
        "ftp://127.0.0.1/gateway.do",
        "http://127.0.0.1:99999/gateway.do",
        "http://127.0.0.1:8080/gateway.do?charset=utf-8",
    ],
)
def test_malformed_gateway_url_is_misconfiguration(
    url: str, make_channel: Callable[..., AlipayChannel]
) -> None:
    with pytest.raises(ChannelMisconfigured):
        make_channel(url)


def test_sdk_log_lines_carry_no_codes_or_tokens(
    stubs: list[StubGateway],
    make_channel: Callable[..., AlipayChannel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    make_channel(stubs[0].url).exchange_code("secret-auth-code")
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == SDK_LOGGER_NAME]
    assert len(sdk_lines) == 2  # one request, one response: the SDK did try to log
    assert "secret-auth-code" not in caplog.text
    assert ACCESS_TOKEN not in caplog.text


def test_keys_in_bare_base64_are_accepted(
    stubs: list[StubGateway], platform_key: rsa.RSAPrivateKey
) -> None:
    app_key = generate_rsa_private_key_pem()
    body = "".join(line for line in app_key.splitlines() if "-----" not in line)
    public_body = "".join(line for line in pem(platform_key).splitlines() if "-----" not in line)
    channel = AlipayChannel(
        "2021000000000001", body, public_body, base64.b64encode(bytes(16)).decode(), stubs[0].url
    )
    try:
        assert channel.exchange_code("code").subject == stubs[0].user_id
    finally:
        channel.close()
