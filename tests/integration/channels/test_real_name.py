"""Real-name checks: the emulated platform APIs and controls, and the real adapters on them.

The behaviour both adapters share with the fake is in tests/contract; this is what only the
emulator and the real SDK clients have: wire shapes, controls, CORS, reset, tokens, logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.request.AlipayUserCertifyOpenInitializeRequest import (
    AlipayUserCertifyOpenInitializeRequest,
)

from channels.alipay import AlipayChannel
from channels.alipay.keys import load_private_key, load_public_key, sdk_private_key, sdk_public_key
from channels.alipay.transport import GatewayClient
from channels.base import (
    ChannelUnavailable,
    InvalidCode,
    RateLimited,
    RealNameClaim,
    RealNameVerdict,
)
from channels.emulator import RunningEmulator
from channels.emulator.state import EmulatorState, RealIdentity
from channels.wechat import WechatChannel
from tests.conftest import PlatformKeys
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.real_names import OTHER_NAME, REAL_NAME

CHECK = "/intp/realname/checkrealnameinfo"
INITIALIZE = "alipay.user.certify.open.initialize"
QUERY = "alipay.user.certify.open.query"


@pytest.fixture
def phone(emulator: RunningEmulator) -> EmulatorPhone:
    return EmulatorPhone(emulator.base_url)


@pytest.fixture
def state(emulator: RunningEmulator) -> EmulatorState:
    found: EmulatorState = emulator.app.extensions["emulator_state"]
    return found


@pytest.fixture
def wechat(
    platform_keys: PlatformKeys, emulator: RunningEmulator, redis_client: redis.Redis
) -> WechatChannel:
    return WechatChannel(
        platform_keys.wechat_app_id,
        platform_keys.wechat_app_secret,
        emulator.base_url,
        redis_client,
        timeout=2.0,
    )


@pytest.fixture
def alipay(platform_keys: PlatformKeys, emulator: RunningEmulator) -> Iterator[AlipayChannel]:
    channel = AlipayChannel(
        platform_keys.alipay_app_id,
        platform_keys.alipay_app_private_key,
        platform_keys.alipay_platform_public_key,
        platform_keys.alipay_aes_key,
        f"{emulator.base_url}/gateway.do",
        timeout=2.0,
    )
    yield channel
    channel.close()


def access_token(emulator: RunningEmulator, keys: PlatformKeys) -> str:
    found = requests.get(
        f"{emulator.base_url}/cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": keys.wechat_app_id,
            "secret": keys.wechat_app_secret,
        },
        timeout=5,
    ).json()
    token: str = found["access_token"]
    return token


def check_raw(emulator: RunningEmulator, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """checkrealnameinfo over plain HTTP, as WeChat's documentation shows it."""
    response = requests.post(
        f"{emulator.base_url}{CHECK}", params={"access_token": token}, json=body, timeout=5
    )
    assert response.status_code == 200  # WeChat answers errors with HTTP 200 too
    found: dict[str, Any] = response.json()
    return found


# WeChat: the wire ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("known", "claimed", "answer"),
    [
        (None, "same", {"verify_openid": "V_OP_NA"}),
        ("other-name", "same", {"verify_openid": "V_OP_NM_UM"}),
        (
            "same-name-other-id",
            "same",
            {"verify_openid": "V_OP_NM_MA", "verify_real_name": "V_NM_ID_UM"},
        ),
        ("same", "same", {"verify_openid": "V_OP_NM_MA", "verify_real_name": "V_NM_ID_MA"}),
    ],
)
def test_checkrealnameinfo_answers_as_documented(
    emulator: RunningEmulator,
    platform_keys: PlatformKeys,
    phone: EmulatorPhone,
    known: str | None,
    claimed: str,
    answer: dict[str, str],
) -> None:
    _, openid = phone.wechat_login()
    id_number = cn_id()
    if known == "other-name":
        phone.set_real_identity("wechat", openid, OTHER_NAME, id_number)
    elif known == "same-name-other-id":
        phone.set_real_identity("wechat", openid, REAL_NAME, cn_id())
    elif known == "same":
        phone.set_real_identity("wechat", openid, REAL_NAME, id_number)
    body = {
        "openid": openid,
        "real_name": REAL_NAME,
        "cred_id": id_number,
        "cred_type": "1",
        "code": phone.wechat_real_name_code(openid),
    }
    found = check_raw(emulator, access_token(emulator, platform_keys), body)
    assert found == {"errcode": 0, "errmsg": "ok", **answer}


def test_checkrealnameinfo_takes_id_cards_only_and_a_refusal_keeps_the_code(
    emulator: RunningEmulator,
    platform_keys: PlatformKeys,
    phone: EmulatorPhone,
) -> None:
    _, openid = phone.wechat_login()
    token = access_token(emulator, platform_keys)
    body = {
        "openid": openid,
        "real_name": REAL_NAME,
        "cred_id": cn_id(),
        "cred_type": "2",
        "code": phone.wechat_real_name_code(openid),
    }
    assert check_raw(emulator, token, body)["errcode"] == 47003
    assert check_raw(emulator, token, {**body, "cred_type": "1"})["errcode"] == 0


def test_checkrealnameinfo_needs_a_valid_access_token(
    emulator: RunningEmulator, phone: EmulatorPhone
) -> None:
    _, openid = phone.wechat_login()
    body = {
        "openid": openid,
        "real_name": REAL_NAME,
        "cred_id": cn_id(),
        "cred_type": "1",
        "code": phone.wechat_real_name_code(openid),
    }
    assert check_raw(emulator, "not-a-token", body)["errcode"] == 40001


def test_checkrealnameinfo_refreshes_an_expired_access_token(
    wechat: WechatChannel, phone: EmulatorPhone
) -> None:
    code, openid = phone.wechat_login()
    wechat.exchange_code(code)
    id_number = cn_id()
    phone.set_real_identity("wechat", openid, REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    first = {"code": phone.wechat_real_name_code(openid)}
    assert wechat.check_real_name(openid, claim, first) is RealNameVerdict.MATCH
    phone._post("/_emulator/expire-tokens", {})

    second = {"code": phone.wechat_real_name_code(openid)}
    assert wechat.check_real_name(openid, claim, second) is RealNameVerdict.MATCH


def test_an_expired_real_name_code_is_invalid(wechat: WechatChannel, phone: EmulatorPhone) -> None:
    _, openid = phone.wechat_login()
    proof = {"code": phone.wechat_real_name_code(openid)}
    phone.expire_codes()
    with pytest.raises(InvalidCode) as raised:
        wechat.check_real_name(openid, RealNameClaim(REAL_NAME, cn_id()), proof)
    assert raised.value.platform_code == 40029


def test_a_fault_on_checkrealnameinfo_leaves_the_other_apis_alone(
    wechat: WechatChannel, phone: EmulatorPhone
) -> None:
    phone.fault("wechat", "checkrealnameinfo", errcode=45011)
    code, openid = phone.wechat_login()
    assert wechat.exchange_code(code).subject == openid
    with pytest.raises(RateLimited) as raised:
        wechat.check_real_name(
            openid,
            RealNameClaim(REAL_NAME, cn_id()),
            {"code": phone.wechat_real_name_code(openid)},
        )
    assert raised.value.platform_code == 45011


# Alipay: the wire ------------------------------------------------------------------------------
def test_initialize_sends_the_claim_and_our_reference(
    alipay: AlipayChannel, state: EmulatorState, platform_keys: PlatformKeys
) -> None:
    id_number = cn_id()
    start = alipay.start_real_name_check(
        "2088000000000001", RealNameClaim(REAL_NAME, id_number), "RNref0001"
    )
    assert start.certify_id is not None
    assert len(start.certify_id) == 32
    recorded = state.certification(start.certify_id)
    assert recorded is not None
    assert recorded.app_id == platform_keys.alipay_app_id
    assert recorded.outer_order_no == "RNref0001"
    assert recorded.claim == RealIdentity.of(REAL_NAME, id_number)
    assert recorded.passed is None


def test_the_gateway_refuses_a_certification_of_another_document(
    emulator: RunningEmulator, platform_keys: PlatformKeys
) -> None:
    # Straight through the SDK client: the adapter only ever asks for ID cards.
    config = AlipayClientConfig()
    config.app_id = platform_keys.alipay_app_id
    config.app_private_key = sdk_private_key(load_private_key(platform_keys.alipay_app_private_key))
    config.alipay_public_key = sdk_public_key(
        load_public_key(platform_keys.alipay_platform_public_key)
    )
    config.server_url = f"{emulator.base_url}/gateway.do"
    request = AlipayUserCertifyOpenInitializeRequest()
    request.biz_content = {
        "outer_order_no": "RNpassport1",
        "biz_code": "FACE",
        "identity_param": {
            "identity_type": "CERT_INFO",
            "cert_type": "PASSPORT",
            "cert_name": REAL_NAME,
            "cert_no": "E12345678",
        },
        "merchant_config": {"return_url": "alipays://platformapi/startapp"},
    }
    with requests.Session() as session:
        node = GatewayClient(config, session).execute(request)
    assert '"code":"40002"' in node
    assert "certify_id" not in node


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [("20000", RateLimited), ("OPEN_CERTIFY_SYSTEM_ERROR", ChannelUnavailable)],
)
def test_a_fault_on_initialize_fails_the_start_only(
    alipay: AlipayChannel,
    phone: EmulatorPhone,
    errcode: str,
    expected: type[Exception],
) -> None:
    user_id = phone.alipay_login()[1]
    claim = RealNameClaim(REAL_NAME, cn_id())
    started = alipay.start_real_name_check(user_id, claim, "RNbefore1")
    phone.fault("alipay", INITIALIZE, errcode=errcode)
    with pytest.raises(expected) as raised:
        alipay.start_real_name_check(user_id, claim, "RNduring1")
    assert type(raised.value) is expected
    assert started.certify_id is not None
    verdict = alipay.check_real_name(user_id, claim, {"certify_id": started.certify_id})
    assert verdict is RealNameVerdict.UNVERIFIED


def test_completing_an_unknown_certification_is_refused(
    emulator: RunningEmulator, phone: EmulatorPhone
) -> None:
    url = f"{emulator.base_url}/_emulator/alipay/certify/complete"
    user_id = phone.alipay_login()[1]
    unknown = requests.post(url, json={"certify_id": "0" * 32, "user_id": user_id}, timeout=5)
    assert unknown.status_code == 404
    missing = requests.post(url, json={"certify_id": "0" * 32}, timeout=5)
    assert missing.status_code == 400


def test_a_face_check_by_someone_else_fails(alipay: AlipayChannel, phone: EmulatorPhone) -> None:
    owner, stranger = phone.alipay_login()[1], phone.alipay_login()[1]
    id_number = cn_id()
    phone.set_real_identity("alipay", owner, REAL_NAME, id_number)
    phone.set_real_identity("alipay", stranger, OTHER_NAME, cn_id())
    claim = RealNameClaim(REAL_NAME, id_number)
    start = alipay.start_real_name_check(owner, claim, "RNface0001")
    assert start.certify_id is not None

    assert phone.alipay_face_check(start.certify_id, stranger) is False
    assert alipay.check_real_name(owner, claim, {"certify_id": start.certify_id}) is (
        RealNameVerdict.UNVERIFIED
    )
    # The real person tries again on the same certification, and passes.
    assert phone.alipay_face_check(start.certify_id, owner) is True
    assert alipay.check_real_name(owner, claim, {"certify_id": start.certify_id}) is (
        RealNameVerdict.MATCH
    )


# the controls ----------------------------------------------------------------------------------
def test_setting_a_real_identity_never_echoes_it(
    emulator: RunningEmulator, state: EmulatorState
) -> None:
    url = f"{emulator.base_url}/_emulator/alipay/users/2088000000000002/real-name"
    id_number = cn_id()
    response = requests.put(url, json={"name": REAL_NAME, "id_number": id_number}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "platform": "alipay",
        "subject": "2088000000000002",
        "verified": True,
    }
    assert id_number not in response.text
    assert state.real_identity("alipay", "2088000000000002") == RealIdentity.of(
        REAL_NAME, id_number
    )
    assert REAL_NAME not in repr(state.real_identity("alipay", "2088000000000002"))


@pytest.mark.parametrize("how", ["DELETE", "PUT null"])
def test_a_real_identity_can_be_taken_back(
    emulator: RunningEmulator, state: EmulatorState, how: str
) -> None:
    url = f"{emulator.base_url}/_emulator/wechat/users/o-someone/real-name"
    requests.put(url, json={"name": REAL_NAME, "id_number": cn_id()}, timeout=5)
    if how == "DELETE":
        response = requests.delete(url, timeout=5)
    else:
        response = requests.put(url, json=None, data="null", timeout=5)
    assert response.json()["verified"] is False
    assert state.real_identity("wechat", "o-someone") is None


@pytest.mark.parametrize(
    ("platform", "body", "status"),
    [
        ("wechat", {"name": REAL_NAME}, 400),
        ("wechat", {"name": "", "id_number": "1"}, 400),
        ("wechat", ["not", "an", "object"], 400),
        ("weibo", {"name": REAL_NAME, "id_number": "1"}, 404),
    ],
)
def test_a_malformed_real_identity_is_refused(
    emulator: RunningEmulator, state: EmulatorState, platform: str, body: Any, status: int
) -> None:
    url = f"{emulator.base_url}/_emulator/{platform}/users/o-malformed/real-name"
    assert requests.put(url, json=body, timeout=5).status_code == status
    assert state.real_identity(platform, "o-malformed") is None


def test_a_real_name_code_needs_an_openid(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/wechat/real-name-code"
    assert requests.post(url, json={}, timeout=5).status_code == 400


def test_the_browser_simulator_may_set_real_identities(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/wechat/users/o-browser/real-name"
    preflight = requests.options(
        url,
        headers={"Origin": "http://127.0.0.1:5000", "Access-Control-Request-Method": "PUT"},
        timeout=5,
    )
    assert preflight.status_code == 204
    allowed = {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"PUT", "DELETE"} <= allowed
    put = requests.put(url, json={"name": REAL_NAME, "id_number": cn_id()}, timeout=5)
    assert put.headers["Access-Control-Allow-Origin"] == "*"
    # The platform API itself stays closed to browsers.
    assert (
        "Access-Control-Allow-Origin"
        not in requests.post(f"{emulator.base_url}{CHECK}", json={}, timeout=5).headers
    )


def test_reset_forgets_identities_and_certifications(
    emulator: RunningEmulator, alipay: AlipayChannel, state: EmulatorState
) -> None:
    id_number = cn_id()
    EmulatorPhone(emulator.base_url).set_real_identity("wechat", "o-reset", REAL_NAME, id_number)
    claim = RealNameClaim(REAL_NAME, id_number)
    start = alipay.start_real_name_check("2088000000000003", claim, "RNreset001")
    assert start.certify_id is not None
    assert state.real_identity("wechat", "o-reset") is not None

    requests.post(f"{emulator.base_url}/_emulator/reset", timeout=5).raise_for_status()

    assert state.real_identity("wechat", "o-reset") is None
    with pytest.raises(InvalidCode):
        alipay.check_real_name("2088000000000003", claim, {"certify_id": start.certify_id})


# what must not leak ----------------------------------------------------------------------------
def test_no_name_or_id_number_reaches_a_log_line_or_an_error(
    wechat: WechatChannel,
    alipay: AlipayChannel,
    phone: EmulatorPhone,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    id_number = cn_id()
    claim = RealNameClaim(REAL_NAME, id_number)
    errors: list[str] = []

    code, openid = phone.wechat_login()
    wechat.exchange_code(code)
    phone.set_real_identity("wechat", openid, REAL_NAME, id_number)
    wechat_proof = {"code": phone.wechat_real_name_code(openid)}
    assert wechat.check_real_name(openid, claim, wechat_proof) is RealNameVerdict.MATCH
    with pytest.raises(InvalidCode) as used:
        wechat.check_real_name(openid, claim, wechat_proof)
    errors.append(str(used.value))

    user_id = phone.alipay_login()[1]
    phone.set_real_identity("alipay", user_id, REAL_NAME, id_number)
    start = alipay.start_real_name_check(user_id, claim, "RNleak0001")
    assert start.certify_id is not None
    phone.alipay_face_check(start.certify_id, user_id)
    assert alipay.check_real_name(user_id, claim, {"certify_id": start.certify_id}) is (
        RealNameVerdict.MATCH
    )
    phone.fault("alipay", INITIALIZE, errcode="OPEN_CERTIFY_SYSTEM_ERROR")
    with pytest.raises(ChannelUnavailable) as failed:
        alipay.start_real_name_check(user_id, claim, "RNleak0002")
    errors.append(str(failed.value))

    assert caplog.records  # the SDKs and our adapters did log: there was something to search
    for secret in (REAL_NAME, id_number, id_number[6:14]):
        assert secret not in caplog.text
        assert not any(secret in error for error in errors)
    assert REAL_NAME not in repr(claim)
    assert id_number not in repr(claim)
