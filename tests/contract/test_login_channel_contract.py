"""One contract, three implementations: the fake, and the real WeChat and Alipay adapters on the
emulator. Services are tested against the fake; this keeps the fake honest."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from channels.alipay import AlipayChannel
from channels.base import (
    ChannelError,
    ChannelUnavailable,
    InvalidCode,
    InvalidPayload,
    LoginChannel,
    Platform,
    RateLimited,
    RealNameClaim,
    RealNameStart,
    RealNameVerdict,
    SubscriptionRefused,
)
from channels.emulator import RunningEmulator
from channels.fake import FakeChannel
from channels.wechat import WechatChannel
from tests.conftest import PlatformKeys
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.real_names import OTHER_NAME, REAL_NAME, forget_real_identity


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


# real-name checks ------------------------------------------------------------------------------
@dataclass
class RealNameSide:
    """A harness plus the platform's real-name side: its records, its page, its faults."""

    harness: Harness
    set_identity: Callable[[str, str | None, str | None], None]
    proof: Callable[[str, RealNameStart], dict[str, str]]
    fail_check: Callable[[type[ChannelError]], None]  # the next check hits this platform error

    @property
    def channel(self) -> LoginChannel:
        return self.harness.channel

    def login(self) -> str:
        code, _ = self.harness.issue_login(None)
        return self.channel.exchange_code(code).subject

    def check(self, subject: str, claim: RealNameClaim, reference: str = "") -> RealNameVerdict:
        """The whole round: start, the user on the platform's page, the server's check."""
        start = self.channel.start_real_name_check(subject, claim, reference or _reference())
        return self.channel.check_real_name(subject, claim, self.proof(subject, start))


def _reference() -> str:
    return "RN" + secrets.token_hex(12)


def fake_real_names(harness: Harness) -> RealNameSide:
    fake = harness.channel
    assert isinstance(fake, FakeChannel)
    return RealNameSide(
        harness,
        set_identity=fake.set_real_identity,
        proof=fake.issue_real_name_proof,
        fail_check=lambda kind: fake.fail_next(kind("injected", platform_code="fake")),
    )


def emulated_real_names(harness: Harness, emulator: RunningEmulator) -> RealNameSide:
    phone = EmulatorPhone(emulator.base_url)
    platform = harness.channel.platform

    def set_identity(subject: str, name: str | None, id_number: str | None) -> None:
        if name is None or id_number is None:
            forget_real_identity(phone, platform.value, subject)
        else:
            phone.set_real_identity(platform.value, subject, name, id_number)

    if platform is Platform.WECHAT:
        errcodes: dict[type[ChannelError], str | int] = {RateLimited: 45011, ChannelUnavailable: -1}
        return RealNameSide(
            harness,
            set_identity=set_identity,
            proof=lambda subject, start: {"code": phone.wechat_real_name_code(subject)},
            fail_check=lambda kind: phone.fault(
                "wechat", "checkrealnameinfo", errcode=errcodes[kind]
            ),
        )

    def face_check(subject: str, start: RealNameStart) -> dict[str, str]:
        assert start.certify_id is not None
        phone.alipay_face_check(start.certify_id, subject)
        return {"certify_id": start.certify_id}

    gateway_codes: dict[type[ChannelError], str] = {
        RateLimited: "20000",
        ChannelUnavailable: "OPEN_CERTIFY_SYSTEM_ERROR",
    }
    return RealNameSide(
        harness,
        set_identity=set_identity,
        proof=face_check,
        fail_check=lambda kind: phone.fault(
            "alipay", "alipay.user.certify.open.query", errcode=gateway_codes[kind]
        ),
    )


def _real_name_side(
    name: str,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> RealNameSide:
    if name == "fake-wechat":
        return fake_real_names(fake_harness(Platform.WECHAT))
    if name == "fake-alipay":
        return fake_real_names(fake_harness(Platform.ALIPAY))
    if name == "wechat":
        return emulated_real_names(wechat_harness(platform_keys, emulator, redis_client), emulator)
    return emulated_real_names(alipay_harness(platform_keys, emulator), emulator)


@pytest.fixture(params=["fake-wechat", "fake-alipay", "wechat", "alipay"])
def real_names(
    request: pytest.FixtureRequest,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> RealNameSide:
    return _real_name_side(request.param, platform_keys, emulator, redis_client)


@pytest.fixture(params=["fake-wechat", "wechat"])
def wechat_real_names(
    request: pytest.FixtureRequest,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> RealNameSide:
    return _real_name_side(request.param, platform_keys, emulator, redis_client)


@pytest.fixture(params=["fake-alipay", "alipay"])
def alipay_real_names(
    request: pytest.FixtureRequest,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> RealNameSide:
    return _real_name_side(request.param, platform_keys, emulator, redis_client)


def not_the_person(platform: Platform) -> RealNameVerdict:
    """What a check of someone else says: WeChat tells a mismatch; Alipay's face check fails,
    and Alipay does not tell a failed check from an unfinished one."""
    return RealNameVerdict.MISMATCH if platform is Platform.WECHAT else RealNameVerdict.UNVERIFIED


def test_the_real_person_matches(real_names: RealNameSide) -> None:
    subject, id_number = real_names.login(), cn_id()
    real_names.set_identity(subject, REAL_NAME, id_number)
    verdict = real_names.check(subject, RealNameClaim(REAL_NAME, id_number))
    assert verdict is RealNameVerdict.MATCH


def test_names_and_id_numbers_are_compared_as_the_platform_normalises_them(
    real_names: RealNameSide,
) -> None:
    subject = real_names.login()
    id_number = cn_id()[:-1] + "X"  # the shape of a check letter; validity is not the point
    real_names.set_identity(subject, REAL_NAME, id_number)
    # Spaces around the name (one of them full-width), a lower-case check letter.
    claim = RealNameClaim(f" {REAL_NAME}\u3000", id_number.lower())
    assert real_names.check(subject, claim) is RealNameVerdict.MATCH


def test_someone_else_does_not_match(real_names: RealNameSide) -> None:
    subject = real_names.login()
    real_names.set_identity(subject, REAL_NAME, cn_id())
    verdict = real_names.check(subject, RealNameClaim(OTHER_NAME, cn_id()))
    assert verdict is not_the_person(real_names.channel.platform)


def test_the_right_name_with_another_id_number_does_not_match(real_names: RealNameSide) -> None:
    subject = real_names.login()
    real_names.set_identity(subject, REAL_NAME, cn_id())
    verdict = real_names.check(subject, RealNameClaim(REAL_NAME, cn_id()))
    assert verdict is not_the_person(real_names.channel.platform)


def test_a_user_without_a_real_name_on_the_platform_is_unverified(
    real_names: RealNameSide,
) -> None:
    subject = real_names.login()
    real_names.set_identity(subject, REAL_NAME, cn_id())
    real_names.set_identity(subject, None, None)  # and taken back: never verified
    verdict = real_names.check(subject, RealNameClaim(REAL_NAME, cn_id()))
    assert verdict is RealNameVerdict.UNVERIFIED


def test_a_real_name_proof_of_the_wrong_shape_is_invalid(real_names: RealNameSide) -> None:
    subject = real_names.login()
    claim = RealNameClaim(REAL_NAME, cn_id())
    start = real_names.channel.start_real_name_check(subject, claim, _reference())
    proof = real_names.proof(subject, start)
    wrong_key = "code" if "certify_id" in proof else "certify_id"
    for wrong in ({wrong_key: "x"}, {**proof, "extra": "x"}, {}, {next(iter(proof)): ""}):
        with pytest.raises(InvalidPayload) as raised:
            real_names.channel.check_real_name(subject, claim, wrong)
        assert raised.value.platform is real_names.channel.platform
    # None of those spent the proof.
    assert real_names.channel.check_real_name(subject, claim, proof) is RealNameVerdict.UNVERIFIED


def test_a_proof_of_the_wrong_shape_is_refused_before_the_platform_is_asked(
    real_names: RealNameSide,
) -> None:
    subject, claim = real_names.login(), RealNameClaim(REAL_NAME, cn_id())
    start = real_names.channel.start_real_name_check(subject, claim, _reference())
    proof = real_names.proof(subject, start)
    real_names.fail_check(ChannelUnavailable)
    with pytest.raises(InvalidPayload):
        real_names.channel.check_real_name(subject, claim, {**proof, "extra": "x"})
    with pytest.raises(ChannelUnavailable):  # the platform's failure was still to come
        real_names.channel.check_real_name(subject, claim, proof)


@pytest.mark.parametrize("kind", [RateLimited, ChannelUnavailable])
def test_a_failing_platform_fails_the_check(
    real_names: RealNameSide, kind: type[ChannelError]
) -> None:
    subject, id_number = real_names.login(), cn_id()
    real_names.set_identity(subject, REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    start = real_names.channel.start_real_name_check(subject, claim, _reference())
    proof = real_names.proof(subject, start)
    real_names.fail_check(kind)
    with pytest.raises(kind) as raised:
        real_names.channel.check_real_name(subject, claim, proof)
    assert type(raised.value) is kind
    assert raised.value.platform is real_names.channel.platform
    if kind is RateLimited:
        assert isinstance(raised.value, RateLimited)
        assert raised.value.retry_after > 0


def test_wechat_sends_the_user_to_the_city_service_without_a_call(
    wechat_real_names: RealNameSide, emulator: RunningEmulator
) -> None:
    subject = wechat_real_names.login()
    # Every WeChat API failing, or the fake's next call: starting must not need any of them.
    EmulatorPhone(emulator.base_url).fault("wechat", "*", errcode=-1)
    fake = wechat_real_names.channel
    if isinstance(fake, FakeChannel):
        fake.fail_next(ChannelUnavailable("injected", platform_code="fake"))
    start = wechat_real_names.channel.start_real_name_check(
        subject, RealNameClaim(REAL_NAME, cn_id()), _reference()
    )
    assert start == RealNameStart(
        Platform.WECHAT,
        mini_program_app_id="wx308bd2aeb83d3345",
        mini_program_path="subPages/city/wxpay-auth/main",
    )


def test_a_wechat_real_name_code_works_once(wechat_real_names: RealNameSide) -> None:
    subject, id_number = wechat_real_names.login(), cn_id()
    wechat_real_names.set_identity(subject, REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    start = wechat_real_names.channel.start_real_name_check(subject, claim, _reference())
    proof = wechat_real_names.proof(subject, start)
    assert wechat_real_names.channel.check_real_name(subject, claim, proof) is (
        RealNameVerdict.MATCH
    )
    with pytest.raises(InvalidCode) as raised:
        wechat_real_names.channel.check_real_name(subject, claim, proof)
    assert raised.value.platform is Platform.WECHAT


def test_a_wechat_real_name_code_is_bound_to_its_user(wechat_real_names: RealNameSide) -> None:
    owner, other, id_number = wechat_real_names.login(), wechat_real_names.login(), cn_id()
    for subject in (owner, other):
        wechat_real_names.set_identity(subject, REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    start = wechat_real_names.channel.start_real_name_check(owner, claim, _reference())
    proof = wechat_real_names.proof(owner, start)
    with pytest.raises(InvalidCode):
        wechat_real_names.channel.check_real_name(other, claim, proof)


def test_an_unknown_wechat_real_name_code_is_invalid(wechat_real_names: RealNameSide) -> None:
    subject = wechat_real_names.login()
    with pytest.raises(InvalidCode):
        wechat_real_names.channel.check_real_name(
            subject, RealNameClaim(REAL_NAME, cn_id()), {"code": "never-issued"}
        )


def test_an_alipay_certification_not_completed_is_unverified(
    alipay_real_names: RealNameSide,
) -> None:
    subject, id_number = alipay_real_names.login(), cn_id()
    alipay_real_names.set_identity(subject, REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    start = alipay_real_names.channel.start_real_name_check(subject, claim, _reference())
    assert start.platform is Platform.ALIPAY
    assert start.certify_id
    proof = {"certify_id": start.certify_id}
    assert alipay_real_names.channel.check_real_name(subject, claim, proof) is (
        RealNameVerdict.UNVERIFIED
    )
    # The user finishes the face check later: the same certify_id now passes, and keeps passing.
    assert alipay_real_names.proof(subject, start) == proof
    for _ in range(2):
        assert alipay_real_names.channel.check_real_name(subject, claim, proof) is (
            RealNameVerdict.MATCH
        )


def test_every_alipay_certification_has_its_own_certify_id(
    alipay_real_names: RealNameSide,
) -> None:
    subject, claim = alipay_real_names.login(), RealNameClaim(REAL_NAME, cn_id())
    starts = {
        alipay_real_names.channel.start_real_name_check(subject, claim, _reference()).certify_id
        for _ in range(3)
    }
    assert len(starts) == 3


def test_an_unknown_certify_id_is_invalid(alipay_real_names: RealNameSide) -> None:
    subject = alipay_real_names.login()
    with pytest.raises(InvalidCode) as raised:
        alipay_real_names.channel.check_real_name(
            subject, RealNameClaim(REAL_NAME, cn_id()), {"certify_id": "0" * 32}
        )
    assert raised.value.platform is Platform.ALIPAY


@pytest.mark.parametrize("reference", ["", "has-dashes", "x" * 33, "中文"])
def test_an_alipay_reference_must_be_32_letters_and_digits(
    alipay_real_names: RealNameSide, reference: str
) -> None:
    subject = alipay_real_names.login()
    with pytest.raises(ValueError, match="reference"):
        alipay_real_names.channel.start_real_name_check(
            subject, RealNameClaim(REAL_NAME, cn_id()), reference
        )
