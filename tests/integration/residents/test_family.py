"""Family members: add, list, remove; another account's member is not reachable."""

from __future__ import annotations

from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser


def test_added_dependent_is_listed_masked(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    grandma = cn_id(birth="19480101")
    response = wechat_user.add_dependent("李秀英", grandma)
    assert response.status_code == 201, response.get_json()
    dependents = wechat_user.me()["dependents"]
    assert [d["name_masked"] for d in dependents] == ["李*英"]
    assert dependents[0]["relation"] == "dependent"
    assert grandma not in str(dependents)


def test_a_child_needs_guardian_consent_which_is_recorded(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    child = cn_id(birth="20180601")
    refused = wechat_user.add_dependent("王小明", child)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "guardian_consent_required"
    assert wechat_user.me()["dependents"] == []

    added = wechat_user.add_dependent("王小明", child, guardian_consent=True)
    assert added.status_code == 201
    consents = wechat_user.me()["consents"]
    assert [(c["kind"], c["resident_id"]) for c in consents] == [
        ("guardian", added.get_json()["id"])
    ]


def test_both_parents_hold_the_same_child(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    child = cn_id(birth="20150301")
    wechat_user.login()
    alipay_user.login()
    first = wechat_user.add_dependent("王小明", child, guardian_consent=True)
    second = alipay_user.add_dependent("王小明", child, guardian_consent=True)
    assert first.get_json()["id"] == second.get_json()["id"]


def test_a_person_with_their_own_login_cannot_be_added(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    adult = cn_id(birth="19800101")
    wechat_user.login()
    wechat_user.declare("张三", adult)
    alipay_user.login()
    refused = alipay_user.add_dependent("张三", adult)
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "resident_has_own_account"
    assert alipay_user.me()["dependents"] == []


def test_dependent_limit_is_enforced(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    for _ in range(6):
        assert wechat_user.add_dependent("家人", cn_id(birth="19500101")).status_code == 201
    refused = wechat_user.add_dependent("家人", cn_id(birth="19500101"))
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "too_many_dependents"
    assert len(wechat_user.me()["dependents"]) == 6


def test_removed_dependent_is_gone(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    added = wechat_user.add_dependent("李秀英", cn_id(birth="19480101")).get_json()
    response = wechat_user.client.delete(
        f"/api/v1/me/dependents/{added['id']}", headers=wechat_user.auth
    )
    assert response.status_code == 204
    assert wechat_user.me()["dependents"] == []


def test_unknown_and_foreign_dependents_are_the_same_404(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    wechat_user.login()
    alipay_user.login()
    theirs = alipay_user.add_dependent("李秀英", cn_id(birth="19480101")).get_json()

    foreign = wechat_user.client.delete(
        f"/api/v1/me/dependents/{theirs['id']}", headers=wechat_user.auth
    )
    unknown = wechat_user.client.delete("/api/v1/me/dependents/r_nope", headers=wechat_user.auth)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json() == unknown.get_json()
    assert [d["id"] for d in alipay_user.me()["dependents"]] == [theirs["id"]]
