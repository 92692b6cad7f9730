"""The real WeChat adapter (wechatpy) against the emulator over loopback, with the real Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    InvalidCode,
    InvalidPayload,
    LoginChannel,
    Platform,
    RateLimited,
    SubscriptionRefused,
)
from channels.emulator import RunningEmulator
from channels.wechat import WechatChannel
from tests.conftest import PlatformKeys
from tests.support.phones import EmulatorPhone

PHONE = "13912345678"


class WechatPhone(EmulatorPhone):
    """The shared phone driver, plus the WeChat controls and counters these tests need."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        # The emulator's call counters only grow (a reset does not clear them): count from here.
        self._baseline = self._all_calls()

    def login(self, openid: str | None = None) -> tuple[str, str]:
        return self.wechat_login(openid)

    def phone_code(self, openid: str) -> dict[str, str]:
        return {"code": self.wechat_phone_code(openid, PHONE)}

    def legacy_phone(self, openid: str, appid: str | None = None) -> dict[str, str]:
        return self.wechat_phone_legacy(openid, PHONE, appid)

    def refuse(self, openid: str) -> None:
        self._post("/_emulator/wechat/refuse", {"openid": openid})

    def wechat_fault(self, api: str, **fault: Any) -> None:
        self.fault("wechat", api, **fault)

    def expire_tokens(self) -> None:
        self._post("/_emulator/expire-tokens", {})

    def _all_calls(self) -> dict[str, int]:
        stats = self.http.get(f"{self.base_url}/_emulator/wechat/stats", timeout=5).json()
        calls: dict[str, int] = stats["calls"]
        return calls

    def calls(self, api: str) -> int:
        """Calls of a WeChat API since this test started."""
        return self._all_calls().get(api, 0) - self._baseline.get(api, 0)


@pytest.fixture
def phone(emulator: RunningEmulator) -> WechatPhone:
    """Overrides the shared ``phone`` fixture with the WeChat-specific driver."""
    return WechatPhone(emulator.base_url)


@pytest.fixture
def make_channel(
    emulator: RunningEmulator, platform_keys: PlatformKeys, redis_client: redis.Redis
) -> Callable[..., WechatChannel]:
    """A new adapter instance (a "worker") on the test app, the emulator and the test Redis."""

    def make(**overrides: Any) -> WechatChannel:
        settings: dict[str, Any] = {
            "app_id": platform_keys.wechat_app_id,
            "app_secret": platform_keys.wechat_app_secret,
            "api_base_url": emulator.base_url,
            "redis": redis_client,
            "timeout": 3.0,
        }
        settings.update(overrides)
        return WechatChannel(**settings)

    return make


@pytest.fixture
def wechat(make_channel: Callable[..., WechatChannel]) -> WechatChannel:
    return make_channel()


def run_in_threads(count: int, work: Callable[[], object]) -> list[BaseException]:
    """Run ``work`` in ``count`` threads released together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # collected for the test's assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


# login -------------------------------------------------------------------------
def test_channel_satisfies_the_login_channel_protocol(wechat: WechatChannel) -> None:
    assert isinstance(wechat, LoginChannel)
    assert wechat.platform is Platform.WECHAT


def test_login_code_is_exchanged_for_openid_and_session_key(
    wechat: WechatChannel, phone: WechatPhone, platform_keys: PlatformKeys
) -> None:
    code, openid = phone.login()

    identity = wechat.exchange_code(code)

    assert identity.platform is Platform.WECHAT
    assert identity.app_id == platform_keys.wechat_app_id
    assert identity.subject == openid
    assert identity.session_key
    assert identity.session_key not in repr(identity)


def test_login_does_not_fetch_an_access_token(wechat: WechatChannel, phone: WechatPhone) -> None:
    code, _ = phone.login()

    wechat.exchange_code(code)

    assert phone.calls("token") == 0


def test_login_with_used_code_is_refused(wechat: WechatChannel, phone: WechatPhone) -> None:
    code, _ = phone.login()
    wechat.exchange_code(code)

    with pytest.raises(InvalidCode) as caught:
        wechat.exchange_code(code)
    assert caught.value.platform_code == 40029


def test_login_with_expired_code_is_refused(wechat: WechatChannel, phone: WechatPhone) -> None:
    code, _ = phone.login()
    phone.expire_codes()

    with pytest.raises(InvalidCode):
        wechat.exchange_code(code)


def test_login_with_wrong_secret_is_a_misconfiguration(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    wrong_secret = "0" * 32
    code, _ = phone.login()

    with pytest.raises(ChannelMisconfigured) as caught:
        make_channel(app_secret=wrong_secret).exchange_code(code)
    assert caught.value.platform_code == 40125
    assert wrong_secret not in str(caught.value)


def test_throttled_login_is_rate_limited(wechat: WechatChannel, phone: WechatPhone) -> None:
    phone.wechat_fault("jscode2session", errcode=45011)
    code, _ = phone.login()

    with pytest.raises(RateLimited) as caught:
        wechat.exchange_code(code)
    assert caught.value.platform_code == 45011


def test_platform_system_error_is_unavailable(wechat: WechatChannel, phone: WechatPhone) -> None:
    phone.wechat_fault("jscode2session", errcode=-1)
    code, _ = phone.login()

    with pytest.raises(ChannelUnavailable) as caught:
        wechat.exchange_code(code)
    assert caught.value.platform_code == -1


def test_http_error_from_the_platform_is_unavailable(
    wechat: WechatChannel, phone: WechatPhone
) -> None:
    phone.wechat_fault("jscode2session", errcode="http_502")
    code, _ = phone.login()

    with pytest.raises(ChannelUnavailable):
        wechat.exchange_code(code)


def test_platform_slower_than_the_timeout_is_unavailable(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    phone.wechat_fault("jscode2session", latency_ms=1500)
    code, _ = phone.login()

    with pytest.raises(ChannelUnavailable):
        make_channel(timeout=0.3).exchange_code(code)


def test_unreachable_platform_is_unavailable_without_leaking_the_secret(
    make_channel: Callable[..., WechatChannel], platform_keys: PlatformKeys
) -> None:
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused.
    channel = make_channel(api_base_url="http://127.0.0.1:9", timeout=0.5)

    with pytest.raises(ChannelUnavailable) as caught:
        channel.exchange_code("some-code")
    assert platform_keys.wechat_app_secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_channels_with_different_base_urls_coexist(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    unreachable = make_channel(api_base_url="http://127.0.0.1:9", timeout=0.5)
    working = make_channel()
    code, openid = phone.login()

    with pytest.raises(ChannelUnavailable):
        unreachable.exchange_code(code)
    assert working.exchange_code(code).subject == openid


# phone numbers -------------------------------------------------------------------
def test_phone_number_from_a_getphonenumber_code(wechat: WechatChannel, phone: WechatPhone) -> None:
    _, openid = phone.login()

    verified = wechat.verify_phone(phone.phone_code(openid), session_key=None)

    assert verified.phone == PHONE
    assert verified.country_code == "86"


def test_used_phone_code_is_refused(wechat: WechatChannel, phone: WechatPhone) -> None:
    _, openid = phone.login()
    proof = phone.phone_code(openid)
    wechat.verify_phone(proof, session_key=None)

    with pytest.raises(InvalidCode):
        wechat.verify_phone(proof, session_key=None)


def test_phone_number_from_the_legacy_encrypted_data(
    wechat: WechatChannel, phone: WechatPhone
) -> None:
    code, openid = phone.login()
    identity = wechat.exchange_code(code)

    verified = wechat.verify_phone(phone.legacy_phone(openid), identity.session_key)

    assert verified.phone == PHONE


def test_legacy_phone_data_made_for_another_app_is_refused(
    wechat: WechatChannel, phone: WechatPhone
) -> None:
    code, openid = phone.login()
    identity = wechat.exchange_code(code)
    proof = phone.legacy_phone(openid, appid="wx00000000000000ff")

    with pytest.raises(InvalidPayload):
        wechat.verify_phone(proof, identity.session_key)


def test_legacy_phone_data_without_the_session_key_is_refused(
    wechat: WechatChannel, phone: WechatPhone
) -> None:
    code, openid = phone.login()
    wechat.exchange_code(code)

    with pytest.raises(InvalidPayload):
        wechat.verify_phone(phone.legacy_phone(openid), session_key=None)


@pytest.mark.parametrize(
    "proof",
    [{}, {"response": "x"}, {"code": "x", "iv": "y"}, {"encrypted_data": "x"}, {"code": ""}],
    ids=["empty", "alipay-shape", "mixed", "half-legacy", "empty-code"],
)
def test_phone_proof_of_the_wrong_shape_is_refused(
    wechat: WechatChannel, phone: WechatPhone, proof: dict[str, str]
) -> None:
    with pytest.raises(InvalidPayload):
        wechat.verify_phone(proof, session_key=None)
    assert phone.calls("getuserphonenumber") == 0


# access token ----------------------------------------------------------------------
def test_expired_access_token_is_refreshed_once_and_the_call_succeeds(
    wechat: WechatChannel, phone: WechatPhone, redis_client: redis.Redis
) -> None:
    _, openid = phone.login()
    wechat.verify_phone(phone.phone_code(openid), session_key=None)
    first_token = redis_client.get(f"wechat:{{{wechat.app_id}}}:access_token")
    phone.expire_tokens()

    verified = wechat.verify_phone(phone.phone_code(openid), session_key=None)

    assert verified.phone == PHONE
    assert phone.calls("token") == 2
    assert phone.calls("getuserphonenumber") == 3  # the refused call and its retry
    assert redis_client.get(f"wechat:{{{wechat.app_id}}}:access_token") != first_token


def test_access_token_is_cached_in_redis_with_a_safety_margin(
    wechat: WechatChannel, phone: WechatPhone, redis_client: redis.Redis
) -> None:
    _, openid = phone.login()

    wechat.send_message(openid, "tpl", {"thing1": "ready"})

    ttl = redis_client.ttl(f"wechat:{{{wechat.app_id}}}:access_token")
    assert 0 < ttl <= 7200 - 300


def test_access_token_is_fetched_once_and_shared_by_two_channels(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    _, openid = phone.login()

    make_channel().send_message(openid, "tpl", {"thing1": "a"})
    make_channel().send_message(openid, "tpl", {"thing1": "b"})

    assert phone.calls("token") == 1
    assert len(phone.messages()) == 2


def test_concurrent_first_use_fetches_the_token_once(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    _, openid = phone.login()
    phone.wechat_fault("token", latency_ms=300)  # keep the first fetch in flight meanwhile
    channels = [make_channel() for _ in range(8)]
    turn = iter(channels)
    lock = threading.Lock()

    def send() -> None:
        with lock:
            channel = next(turn)
        channel.send_message(openid, "tpl", {"thing1": "x"})

    errors = run_in_threads(len(channels), send)

    assert errors == []
    assert phone.calls("token") == 1
    assert len(phone.messages()) == len(channels)


def test_concurrent_refresh_of_an_expired_token_fetches_once(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    _, openid = phone.login()
    make_channel().send_message(openid, "tpl", {"thing1": "warm-up"})
    phone.expire_tokens()
    phone.wechat_fault("token", latency_ms=300)
    channel = make_channel()

    errors = run_in_threads(8, lambda: channel.send_message(openid, "tpl", {"thing1": "x"}))

    # A second fetch would have voided the first token and failed someone's retry.
    assert errors == []
    assert phone.calls("token") == 2  # the warm-up and one refresh
    assert len(phone.messages()) == 9


def test_wrong_secret_on_token_fetch_is_a_misconfiguration(
    make_channel: Callable[..., WechatChannel], phone: WechatPhone
) -> None:
    _, openid = phone.login()

    with pytest.raises(ChannelMisconfigured):
        make_channel(app_secret="0" * 32).send_message(openid, "tpl", {"thing1": "x"})


# subscribe messages ------------------------------------------------------------------
def test_subscribe_message_is_sent(
    wechat: WechatChannel, phone: WechatPhone, platform_keys: PlatformKeys
) -> None:
    _, openid = phone.login()

    receipt = wechat.send_message(openid, "tpl-result", {"thing1": "negative"}, page="pages/r")

    assert receipt.recipient == openid
    assert receipt.message_id
    [message] = phone.messages()
    assert message["platform"] == "wechat"
    assert message["app_id"] == platform_keys.wechat_app_id
    assert message["touser"] == openid
    assert message["template_id"] == "tpl-result"
    assert message["page"] == "pages/r"
    assert message["data"] == {"thing1": {"value": "negative"}}


def test_refused_subscription_is_reported(wechat: WechatChannel, phone: WechatPhone) -> None:
    _, openid = phone.login()
    phone.refuse(openid)

    with pytest.raises(SubscriptionRefused) as caught:
        wechat.send_message(openid, "tpl", {"thing1": "x"})
    assert caught.value.platform_code == 43101
    assert phone.messages() == []


def test_throttled_send_is_rate_limited(wechat: WechatChannel, phone: WechatPhone) -> None:
    _, openid = phone.login()
    phone.wechat_fault("subscribe_send", errcode=45011)

    with pytest.raises(RateLimited):
        wechat.send_message(openid, "tpl", {"thing1": "x"})


def test_unknown_errcode_is_unavailable(wechat: WechatChannel, phone: WechatPhone) -> None:
    _, openid = phone.login()
    phone.wechat_fault("getuserphonenumber", errcode=99999)

    with pytest.raises(ChannelUnavailable) as caught:
        wechat.verify_phone(phone.phone_code(openid), session_key=None)
    assert isinstance(caught.value, ChannelError)
    assert caught.value.platform_code == 99999
