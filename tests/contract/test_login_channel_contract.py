"""One contract, three implementations: the fake, and the real WeChat and Alipay adapters on the
emulator. Services are tested against the fake; this keeps the fake honest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from channels.alipay import AlipayChannel
from channels.base import (
    InvalidCode,
    InvalidPayload,
    LoginChannel,
    Platform,
    RateLimited,
    SubscriptionRefused,
)
from channels.emulator import RunningEmulator
from channels.fake import FakeChannel
from channels.wechat import WechatChannel
from tests.conftest import PlatformKeys
from tests.support.phones import EmulatorPhone


@dataclass
class Harness:
    """A channel plus the 'phone' and the platform's inspection side for it."""

    channel: LoginChannel
    issue_login: Callable[[str | None], tuple[str, str]]
    issue_phone: Callable[[str, str], dict[str, str]]
    throttle: Callable[[], None]
    refuse_messages_for: Callable[[str], None]
    sent_to: Callable[[str], list[Any]]
    wrong_shape: dict[str, str]


def fake_harness(platform: Platform) -> Harness:
    fake = FakeChannel(platform, app_id=f"fake-{platform.value}")
    return Harness(
        channel=fake,
        issue_login=fake.issue_login_code,
        issue_phone=fake.issue_phone_proof,
        throttle=lambda: fake.fail_next(RateLimited("busy", platform_code="fake")),
        refuse_messages_for=fake.refused_recipients.add,
        sent_to=lambda who: [m for m in fake.sent if m["to"] == who],
        wrong_shape={"unexpected": "x"},
    )


def wechat_harness(keys: PlatformKeys, emulator: RunningEmulator, client: redis.Redis) -> Harness:
    phone = EmulatorPhone(emulator.base_url)
    channel = WechatChannel(
        keys.wechat_app_id, keys.wechat_app_secret, emulator.base_url, client, timeout=2.0
    )
    return Harness(
        channel=channel,
        issue_login=phone.wechat_login,
        issue_phone=lambda who, number: {"code": phone.wechat_phone_code(who, number)},
        throttle=lambda: phone.fault("wechat", "*", errcode=45011),
        refuse_messages_for=lambda who: phone._post("/_emulator/wechat/refuse", {"openid": who}),
        sent_to=lambda who: [m for m in phone.messages() if who in str(m)],
        wrong_shape={"response": "an alipay payload"},
    )


def alipay_harness(keys: PlatformKeys, emulator: RunningEmulator) -> Harness:
    phone = EmulatorPhone(emulator.base_url)
    channel = AlipayChannel(
        keys.alipay_app_id,
        keys.alipay_app_private_key,
        keys.alipay_platform_public_key,
        keys.alipay_aes_key,
        f"{emulator.base_url}/gateway.do",
        timeout=2.0,
    )

    def refuse(who: str) -> None:
        phone.fault(
            "alipay", "alipay.open.app.mini.templatemessage.send", errcode="USER_TEMPLATE_ILLEGAL"
        )

    return Harness(
        channel=channel,
        issue_login=phone.alipay_login,
        issue_phone=lambda who, number: {"response": phone.alipay_phone(who, number)},
        throttle=lambda: phone.fault("alipay", "*", errcode="20000"),
        refuse_messages_for=refuse,
        sent_to=lambda who: [m for m in phone.messages() if who in str(m)],
        wrong_shape={"code": "a wechat code"},
    )


@pytest.fixture(params=["fake-wechat", "fake-alipay", "wechat", "alipay"])
def harness(
    request: pytest.FixtureRequest,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> Iterator[Harness]:
    name = request.param
    if name == "fake-wechat":
        yield fake_harness(Platform.WECHAT)
    elif name == "fake-alipay":
        yield fake_harness(Platform.ALIPAY)
    elif name == "wechat":
        yield wechat_harness(platform_keys, emulator, redis_client)
    else:
        yield alipay_harness(platform_keys, emulator)


def test_a_login_code_names_the_user(harness: Harness) -> None:
    code, subject = harness.issue_login(None)
    identity = harness.channel.exchange_code(code)
    assert identity.subject == subject
    assert identity.platform is harness.channel.platform
    assert identity.app_id == harness.channel.app_id


def test_the_same_user_gets_the_same_subject_again(harness: Harness) -> None:
    code, subject = harness.issue_login(None)
    again, _ = harness.issue_login(subject)
    assert (
        harness.channel.exchange_code(code).subject == harness.channel.exchange_code(again).subject
    )


def test_a_code_works_once(harness: Harness) -> None:
    code, _ = harness.issue_login(None)
    harness.channel.exchange_code(code)
    with pytest.raises(InvalidCode):
        harness.channel.exchange_code(code)


def test_an_unknown_code_is_invalid(harness: Harness) -> None:
    with pytest.raises(InvalidCode) as raised:
        harness.channel.exchange_code("never-issued")
    # Every error names its platform: the app's one error handler needs nothing else.
    assert raised.value.platform is harness.channel.platform


def test_a_throttled_platform_raises_rate_limited(harness: Harness) -> None:
    code, _ = harness.issue_login(None)
    harness.throttle()
    with pytest.raises(RateLimited) as raised:
        harness.channel.exchange_code(code)
    assert raised.value.retry_after > 0
    assert raised.value.platform is harness.channel.platform


def test_a_phone_proof_gives_the_verified_number(harness: Harness) -> None:
    code, subject = harness.issue_login(None)
    identity = harness.channel.exchange_code(code)
    proof = harness.issue_phone(subject, "13812345678")
    phone = harness.channel.verify_phone(proof, identity.session_key)
    assert phone.phone == "13812345678"
    assert "13812345678" not in repr(phone)


def test_a_phone_proof_of_the_wrong_shape_is_invalid(harness: Harness) -> None:
    with pytest.raises(InvalidPayload) as raised:
        harness.channel.verify_phone(harness.wrong_shape, None)
    assert raised.value.platform is harness.channel.platform


def test_a_message_reaches_the_user(harness: Harness) -> None:
    code, subject = harness.issue_login(None)
    harness.channel.exchange_code(code)
    receipt = harness.channel.send_message(subject, "tmpl-result", {"result": "阴性"}, "pages/r")
    assert receipt.recipient == subject
    assert len(harness.sent_to(subject)) == 1


def test_a_refused_subscription_is_not_sent(harness: Harness) -> None:
    code, subject = harness.issue_login(None)
    harness.channel.exchange_code(code)
    harness.refuse_messages_for(subject)
    with pytest.raises(SubscriptionRefused) as raised:
        harness.channel.send_message(subject, "tmpl-result", {"result": "阴性"})
    assert harness.sent_to(subject) == []
    assert raised.value.platform is harness.channel.platform
