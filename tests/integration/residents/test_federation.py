"""One person through WeChat and through Alipay is one resident (README, "How identity works")."""

from __future__ import annotations

from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser


def test_same_person_on_both_platforms_is_one_resident(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    first = wechat_user.register("张三", person)
    assert first.status_code == 200, first.get_json()

    second = alipay_user.register("张三", person)
    assert second.status_code == 200, second.get_json()

    wechat_me, alipay_me = wechat_user.me(), alipay_user.me()
    assert wechat_me["self"]["id"] == alipay_me["self"]["id"]
    assert wechat_me["account"]["id"] != alipay_me["account"]["id"]
    assert alipay_me["self"]["id_masked"] == person[:3] + "*" * 11 + person[-4:]
    assert alipay_me["self"]["phone_masked"] == "138****5678"


def test_claim_without_a_verified_phone_is_refused(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.register("张三", person)

    alipay_user.login()
    refused = alipay_user.declare("张三", person)

    assert refused.status_code == 409
    # The same answer as a wrong phone or a wrong name (below): which part failed is not said.
    assert refused.get_json()["code"] == "identity_claim_refused"
    assert alipay_user.me()["self"] is None


def test_claim_with_another_phone_is_refused_and_takes_over_nothing(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.register("张三", person)
    owner_before = wechat_user.me()

    refused = alipay_user.register("张三", person, phone="13900001111")

    assert refused.status_code == 409
    assert refused.get_json()["code"] == "identity_claim_refused"
    assert alipay_user.me()["self"] is None
    assert wechat_user.me() == owner_before


def test_claim_with_the_right_phone_but_another_name_is_refused(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.register("张三", person)

    refused = alipay_user.register("李四", person)

    assert refused.status_code == 409
    assert refused.get_json()["code"] == "identity_claim_refused"
    # Same message for a wrong name and a wrong phone: no oracle for guessing either.
    assert alipay_user.me()["self"] is None


def test_phone_bound_after_the_profile_still_allows_federation(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.login()
    wechat_user.declare("王五", person)
    wechat_user.bind_phone("13700001234")

    alipay_user.login()
    alipay_user.bind_phone("13700001234")
    linked = alipay_user.declare("王五", person)

    assert linked.status_code == 200
    assert linked.get_json()["id"] == wechat_user.me()["self"]["id"]


def test_logging_in_again_keeps_the_same_account(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    wechat_user.declare("赵六", cn_id())
    first = wechat_user.me()

    again = wechat_user.login()

    assert again.status_code == 200
    assert again.get_json()["account"]["id"] == first["account"]["id"]
    assert again.get_json()["self"]["id"] == first["self"]["id"]
