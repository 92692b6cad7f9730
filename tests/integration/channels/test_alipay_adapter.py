"""The real Alipay adapter (alipay-sdk-python) against the emulator over loopback."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.request.AlipayUserInfoShareRequest import AlipayUserInfoShareRequest

from channels.alipay import AlipayChannel
from channels.alipay.keys import load_private_key, load_public_key, sdk_private_key, sdk_public_key
from channels.alipay.transport import GatewayClient
from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    InvalidCode,
    LoginChannel,
    Platform,
    RateLimited,
    SubscriptionRefused,
)
from channels.emulator import RunningEmulator
from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem
from tests.conftest import PlatformKeys

PHONE = "13812345678"
OAUTH = "alipay.system.oauth.token"


class Phone:
    """What the mini-program gets from ``my.getAuthCode`` / ``my.getPhoneNumber``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}{path}", json=body, timeout=5)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def login(self, **body: str) -> dict[str, Any]:
        return self.post("/_emulator/alipay/login", body)

    def fault(self, api: str, **fault: Any) -> None:
        self.post("/_emulator/faults", {"platform": "alipay", "api": api, **fault})


@pytest.fixture
def phone(emulator: RunningEmulator) -> Phone:
    return Phone(emulator.base_url)


@pytest.fixture
def make_channel(
    emulator: RunningEmulator, platform_keys: PlatformKeys
) -> Iterator[Callable[..., AlipayChannel]]:
    """An adapter on the test app and the emulator; keyword arguments override settings."""
    made: list[AlipayChannel] = []

    def make(**overrides: Any) -> AlipayChannel:
        settings: dict[str, Any] = {
            "app_id": platform_keys.alipay_app_id,
            "app_private_key": platform_keys.alipay_app_private_key,
            "alipay_public_key": platform_keys.alipay_platform_public_key,
            "aes_key": platform_keys.alipay_aes_key,
            "gateway_url": f"{emulator.base_url}/gateway.do",
            "timeout": 2.0,
        }
        channel = AlipayChannel(**{**settings, **overrides})
        made.append(channel)
        return channel

    yield make
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make_channel: Callable[..., AlipayChannel]) -> AlipayChannel:
    return make_channel()


def test_adapter_is_a_login_channel(channel: AlipayChannel) -> None:
    assert isinstance(channel, LoginChannel)
    assert channel.platform is Platform.ALIPAY


def test_auth_code_exchanges_for_the_user_id(
    channel: AlipayChannel, phone: Phone, platform_keys: PlatformKeys
) -> None:
    login = phone.login()
    identity = channel.exchange_code(login["auth_code"])
    assert identity.platform is Platform.ALIPAY
    assert identity.app_id == platform_keys.alipay_app_id
    assert identity.subject == login["user_id"]
    assert identity.session_key is None


def test_open_id_is_the_subject_when_there_is_no_user_id(
    channel: AlipayChannel, phone: Phone
) -> None:
    login = phone.login(open_id="074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")
    assert channel.exchange_code(login["auth_code"]).subject == login["open_id"]


def test_reused_auth_code_is_refused(channel: AlipayChannel, phone: Phone) -> None:
    code = phone.login()["auth_code"]
    channel.exchange_code(code)
    with pytest.raises(InvalidCode) as caught:
        channel.exchange_code(code)
    assert caught.value.platform_code == "isv.code-invalid"


def test_expired_auth_code_is_refused(channel: AlipayChannel, phone: Phone) -> None:
    code = phone.login()["auth_code"]
    phone.post("/_emulator/expire-codes", {})
    with pytest.raises(InvalidCode):
        channel.exchange_code(code)


def test_unknown_auth_code_is_refused(channel: AlipayChannel) -> None:
    with pytest.raises(InvalidCode):
        channel.exchange_code("made-up-code")


def test_service_unavailable_during_login_is_throttling(
    channel: AlipayChannel, phone: Phone
) -> None:
    phone.fault(OAUTH, errcode="20000")
    with pytest.raises(RateLimited) as caught:
        channel.exchange_code(phone.login()["auth_code"])
    assert caught.value.retry_after >= 1.0


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [
        ("isv.code-invalid", InvalidCode),
        ("isv.invalid-signature", ChannelMisconfigured),
        ("isp.unknow-error", RateLimited),
        ("SOMETHING_NEW", ChannelUnavailable),
    ],
)
def test_injected_gateway_errors_map_to_channel_errors(
    channel: AlipayChannel, phone: Phone, errcode: str, expected: type[ChannelError]
) -> None:
    phone.fault(OAUTH, errcode=errcode)
    with pytest.raises(expected) as caught:
        channel.exchange_code(phone.login()["auth_code"])
    assert type(caught.value) is expected


def test_gateway_slower_than_the_timeout_is_unavailable(
    make_channel: Callable[..., AlipayChannel], phone: Phone
) -> None:
    channel = make_channel(timeout=0.3)
    phone.fault(OAUTH, latency_ms=1000)
    with pytest.raises(ChannelUnavailable, match="unreachable"):
        channel.exchange_code(phone.login()["auth_code"])


def test_request_signed_with_the_wrong_app_key_is_misconfiguration(
    make_channel: Callable[..., AlipayChannel], phone: Phone
) -> None:
    channel = make_channel(app_private_key=generate_rsa_private_key_pem())
    with pytest.raises(ChannelMisconfigured) as caught:
        channel.exchange_code(phone.login()["auth_code"])
    assert caught.value.platform_code == "isv.invalid-signature"


def test_unknown_app_id_is_misconfiguration(
    make_channel: Callable[..., AlipayChannel], phone: Phone
) -> None:
    channel = make_channel(app_id="2021009999999999")
    with pytest.raises(ChannelMisconfigured) as caught:
        channel.exchange_code(phone.login()["auth_code"])
    assert caught.value.platform_code == "isv.invalid-app-id"


def test_answer_signed_by_another_platform_key_is_refused(
    make_channel: Callable[..., AlipayChannel], phone: Phone
) -> None:
    channel = make_channel(alipay_public_key=public_key_pem(generate_rsa_private_key_pem()))
    with pytest.raises(ChannelUnavailable, match="signature"):
        channel.exchange_code(phone.login()["auth_code"])


def test_phone_payload_verifies_to_the_phone(channel: AlipayChannel, phone: Phone) -> None:
    user_id = phone.login()["user_id"]
    response = phone.post("/_emulator/alipay/phone", {"user_id": user_id, "phone": PHONE})
    assert set(response) == {"response"}
    assert channel.verify_phone(response, None).phone == PHONE


def test_platform_public_key_is_published(
    emulator: RunningEmulator, platform_keys: PlatformKeys
) -> None:
    found = requests.get(f"{emulator.base_url}/_emulator/alipay/platform_public_key", timeout=5)
    assert found.text.strip() == platform_keys.alipay_platform_public_key.strip()


def test_message_is_sent_to_the_user(
    channel: AlipayChannel, phone: Phone, platform_keys: PlatformKeys
) -> None:
    user_id = phone.login()["user_id"]
    data = {"keyword1": "阴性", "keyword2": "2022-04-01 08:00"}
    receipt = channel.send_message(user_id, "tmpl-result", data, "pages/result/index")
    assert (receipt.platform, receipt.recipient) == (Platform.ALIPAY, user_id)
    found = requests.get(f"{phone.base_url}/_emulator/messages", timeout=5).json()["messages"]
    assert len(found) == 1
    assert found[0]["platform"] == "alipay"
    assert found[0]["app_id"] == platform_keys.alipay_app_id
    assert (found[0]["to"], found[0]["template_id"]) == (user_id, "tmpl-result")
    assert (found[0]["data"], found[0]["page"]) == (data, "pages/result/index")


def test_no_code_token_or_phone_reaches_a_log_line(
    channel: AlipayChannel,
    phone: Phone,
    platform_keys: PlatformKeys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    login = phone.login()
    channel.exchange_code(login["auth_code"])
    with pytest.raises(InvalidCode):
        channel.exchange_code(login["auth_code"])
    response = phone.post("/_emulator/alipay/phone", {"user_id": login["user_id"], "phone": PHONE})
    channel.verify_phone(response, None)
    key_body = platform_keys.alipay_app_private_key.splitlines()[1]
    for secret in (login["auth_code"], PHONE, key_body, "authusr"):
        assert secret not in caplog.text


def test_emulator_answers_user_info_for_the_access_token(
    emulator: RunningEmulator, phone: Phone, platform_keys: PlatformKeys
) -> None:
    # Straight through the SDK client: our adapter does not call alipay.user.info.share.
    config = AlipayClientConfig()
    config.app_id = platform_keys.alipay_app_id
    config.app_private_key = sdk_private_key(load_private_key(platform_keys.alipay_app_private_key))
    config.alipay_public_key = sdk_public_key(
        load_public_key(platform_keys.alipay_platform_public_key)
    )
    config.server_url = f"{emulator.base_url}/gateway.do"
    with requests.Session() as session:
        client = GatewayClient(config, session)
        login = phone.login()
        token_request = AlipaySystemOauthTokenRequest()
        token_request.grant_type, token_request.code = "authorization_code", login["auth_code"]
        token = client.execute(token_request)
        info_request = AlipayUserInfoShareRequest()
        info_request.add_other_text_param("auth_token", _field(token, "access_token"))
        info = client.execute(info_request)
    assert _field(info, "code") == "10000"
    assert _field(info, "user_id") == login["user_id"]


def _field(node: str, name: str) -> str:
    value = json.loads(node)[name]
    assert isinstance(value, str)
    return value


def test_message_without_a_subscription_is_refused_and_not_sent(
    channel: AlipayChannel, phone: Phone
) -> None:
    phone.fault("alipay.open.app.mini.templatemessage.send", errcode="USER_TEMPLATE_ILLEGAL")
    with pytest.raises(SubscriptionRefused):
        channel.send_message(phone.login()["user_id"], "tmpl-result", {"result": "阴性"})
    assert requests.get(f"{phone.base_url}/_emulator/messages", timeout=5).json()["messages"] == []


def test_a_server_clock_outside_beijing_time_is_a_misconfiguration(
    make_channel: Callable[..., AlipayChannel], phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alipay-sdk-python stamps requests with local time; the gateway reads Beijing time.
    channel = make_channel()
    code = phone.login()["auth_code"]
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        with pytest.raises(ChannelMisconfigured) as raised:
            channel.exchange_code(code)
        assert raised.value.platform_code == "isv.invalid-timestamp"
    finally:
        monkeypatch.setenv("TZ", "Asia/Shanghai")
        time.tzset()
