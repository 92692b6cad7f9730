"""Reading the platforms' real-name answers, and building the requests, without any HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.alipay import certify
from channels.base import ChannelUnavailable, InvalidPayload, Platform, RealNameClaim
from channels.base import RealNameVerdict as Verdict
from channels.emulator.state import RealIdentity
from channels.fake import FakeChannel
from channels.wechat import realname

ID_NUMBER = "31011519900307123X"


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ({"verify_openid": "V_OP_NA"}, Verdict.UNVERIFIED),
        ({"verify_openid": "V_OP_NM_UM"}, Verdict.MISMATCH),
        ({"verify_openid": "V_OP_NM_MA", "verify_real_name": "V_NM_ID_MA"}, Verdict.MATCH),
        ({"verify_openid": "V_OP_NM_MA", "verify_real_name": "V_NM_ID_UM"}, Verdict.MISMATCH),
        # Several values joined by ';': the name match decides.
        ({"verify_openid": "V_OP_NA;V_OP_NM_MA", "verify_real_name": "V_NM_ID_MA"}, Verdict.MATCH),
        ({"verify_openid": "V_OP_NM_UM;V_OP_NA"}, Verdict.MISMATCH),
    ],
)
def test_checkrealnameinfo_answers_become_verdicts(
    answer: dict[str, str], verdict: Verdict
) -> None:
    assert realname.verdict_from({"errcode": 0, "errmsg": "ok", **answer}) is verdict


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"verify_openid": "V_OP_SOMETHING_NEW"},
        {"verify_openid": "V_OP_NM_MA"},  # a name match must say whether the ID number matches
        {"verify_openid": "V_OP_NM_MA", "verify_real_name": "V_NM_ID_NEW"},
        {"verify_openid": ["V_OP_NM_MA"]},
    ],
)
def test_an_unforeseen_checkrealnameinfo_answer_is_unavailable(answer: dict[str, Any]) -> None:
    with pytest.raises(ChannelUnavailable):
        realname.verdict_from(answer)


def test_checkrealnameinfo_body_is_an_id_card_check_of_the_openid() -> None:
    body = realname.check_body("o-user", RealNameClaim("张三", ID_NUMBER), "the-code")
    assert body == {
        "openid": "o-user",
        "real_name": "张三",
        "cred_id": ID_NUMBER,
        "cred_type": "1",
        "code": "the-code",
    }


def test_certify_initialize_asks_for_a_face_check_of_an_id_card() -> None:
    request = certify.initialize_request("2021000000000001", RealNameClaim("张三", ID_NUMBER), "R1")
    params = request.get_params()
    assert params["method"] == "alipay.user.certify.open.initialize"
    assert json.loads(params["biz_content"]) == {
        "outer_order_no": "R1",
        "biz_code": "FACE",
        "identity_param": {
            "identity_type": "CERT_INFO",
            "cert_type": "IDENTITY_CARD",
            "cert_name": "张三",
            "cert_no": ID_NUMBER,
        },
        "merchant_config": {"return_url": "alipays://platformapi/startapp?appId=2021000000000001"},
    }


@pytest.mark.parametrize(
    "proof",
    [{}, {"code": "x"}, {"certify_id": ""}, {"certify_id": "x", "extra": "y"}],
)
def test_certify_query_takes_exactly_a_certify_id(proof: dict[str, str]) -> None:
    with pytest.raises(InvalidPayload):
        certify.query_request(proof)


def test_certify_query_asks_for_that_certify_id() -> None:
    params = certify.query_request({"certify_id": "OC2025"}).get_params()
    assert params["method"] == "alipay.user.certify.open.query"
    assert json.loads(params["biz_content"]) == {"certify_id": "OC2025"}


@pytest.mark.parametrize(("passed", "verdict"), [("T", Verdict.MATCH), ("F", Verdict.UNVERIFIED)])
def test_certify_passed_becomes_a_verdict(passed: str, verdict: Verdict) -> None:
    assert certify.verdict_from(passed) is verdict


@pytest.mark.parametrize("passed", [None, "", "t", "TRUE", True])
def test_an_unforeseen_passed_is_unavailable(passed: object) -> None:
    with pytest.raises(ChannelUnavailable):
        certify.verdict_from(passed)


def test_the_emulator_compares_names_and_id_numbers_normalised() -> None:
    assert RealIdentity.of(" 张\u3000三 ", ID_NUMBER.lower()) == RealIdentity.of("张 三", ID_NUMBER)
    assert RealIdentity.of("ＡＢ", "１") == RealIdentity.of("AB", "1")  # full-width forms
    assert RealIdentity.of("张三", ID_NUMBER) != RealIdentity.of("张 三", ID_NUMBER)


def test_no_repr_shows_a_real_identity() -> None:
    fake = FakeChannel(Platform.WECHAT)
    fake.set_real_identity("o-user", "张三", ID_NUMBER)
    alipay = FakeChannel(Platform.ALIPAY)
    alipay.start_real_name_check("2088", RealNameClaim("张三", ID_NUMBER), "R1")
    for text in (repr(RealIdentity.of("张三", ID_NUMBER)), repr(fake), repr(alipay)):
        assert "张三" not in text
        assert ID_NUMBER not in text
