"""Family members: add, list, remove; another account's member is not reachable."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def logged_in_user(client: FlaskClient, phone: EmulatorPhone) -> MiniProgramUser:
    user = MiniProgramUser(client, phone, "wechat")
    assert user.login().status_code == 200
    return user


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
    assert [(c["kind"], c["resident_id"]) for c in consents if c["kind"] == "guardian"] == [
        ("guardian", added.get_json()["dependent"]["id"])
    ]


def test_a_second_parent_holds_the_child_once_the_first_approves(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    child = cn_id(birth="20150301")
    wechat_user.login()
    alipay_user.login()
    first = wechat_user.add_dependent("王小明", child, guardian_consent=True).get_json()
    assert first["status"] == "linked"

    asked = alipay_user.add_dependent("王小明", child, guardian_consent=True)
    assert asked.status_code == 201
    assert asked.get_json()["status"] == "pending"
    assert alipay_user.me()["dependents"] == []
    waiting = wechat_user.me()["link_requests"]
    assert [(r["name_masked"], r["proxy_reason"], r["requester_platform"]) for r in waiting] == [
        ("王*明", "minor", "alipay")
    ]
    assert [n["kind"] for n in wechat_user.me()["notices"]] == ["link_requested"]

    approved = wechat_user.client.post(
        f"/api/v1/me/link-requests/{waiting[0]['id']}/approve", headers=wechat_user.auth
    )

    assert approved.status_code == 204
    theirs = alipay_user.me()
    assert [d["id"] for d in theirs["dependents"]] == [first["dependent"]["id"]]
    assert [n["kind"] for n in theirs["notices"]] == ["link_approved"]
    assert [c["kind"] for c in theirs["consents"] if c["resident_id"]] == ["guardian"]
    assert wechat_user.me()["link_requests"] == []


def test_a_declined_request_links_nothing_and_says_so(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19480101")
    wechat_user.login()
    alipay_user.login()
    wechat_user.add_dependent("李秀英", grandma)
    alipay_user.add_dependent("李秀英", grandma)
    request_id = wechat_user.me()["link_requests"][0]["id"]

    declined = wechat_user.client.post(
        f"/api/v1/me/link-requests/{request_id}/decline", headers=wechat_user.auth
    )

    assert declined.status_code == 204
    theirs = alipay_user.me()
    assert theirs["dependents"] == []
    assert [r["status"] for r in theirs["sent_requests"]] == ["declined"]
    assert [n["kind"] for n in theirs["notices"]] == ["link_declined"]


def test_only_a_holder_of_the_record_answers_a_request(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19480101")
    wechat_user.login()
    wechat_user.add_dependent("李秀英", grandma)
    asker, stranger = logged_in_user(client, phone), logged_in_user(client, phone)
    request_id = asker.add_dependent("李秀英", grandma).get_json()["request_id"]

    # The asker cannot approve their own request, nor can anyone who does not hold grandma.
    for user in (asker, stranger):
        answer = user.client.post(
            f"/api/v1/me/link-requests/{request_id}/approve", headers=user.auth
        )
        assert answer.status_code == 404
    assert asker.me()["dependents"] == []


def test_attaching_an_existing_person_reveals_nothing_and_reads_nothing(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    """The attack: a stranger who knew grandma's name and ID number attached her, then read
    her results, received her pushes and could re-issue (void) her code."""
    grandma, adult, unheld = cn_id(birth="19480101"), cn_id("19800101"), cn_id("19490101")
    wechat_user.login()
    held = wechat_user.add_dependent("李秀英", grandma).get_json()["dependent"]
    own = logged_in_user(client, phone)
    own.declare("张三", adult)
    former = logged_in_user(client, phone)
    gone = former.add_dependent("赵老太", unheld).get_json()["dependent"]
    former.client.delete(f"/api/v1/me/dependents/{gone['id']}", headers=former.auth)

    attacker = logged_in_user(client, phone)
    answers = [
        attacker.add_dependent("李秀英", grandma),  # the right name; her grandson holds her
        attacker.add_dependent("李秀兰", grandma),  # a wrong name
        attacker.add_dependent("张三", adult, unable_to_apply=True),  # has their own login
        attacker.add_dependent("赵老太", unheld),  # nobody holds her
    ]

    bodies = [a.get_json() for a in answers]
    assert {a.status_code for a in answers} == {201}
    assert [{k: v for k, v in b.items() if k != "request_id"} for b in bodies] == [
        {"status": "pending", "dependent": None}
    ] * 4
    assert attacker.me()["dependents"] == []
    code = attacker.client.get(f"/api/v1/residents/{held['id']}/code", headers=attacker.auth)
    assert code.status_code == 404
    # Only grandma's holder is asked, and only about the request with her right name.
    assert len(wechat_user.me()["link_requests"]) == 1
    assert own.me()["link_requests"] == []


def test_a_verified_adder_links_an_elderly_person_at_once(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    grandma, me = cn_id(birth="19450202"), cn_id(birth="19800101")
    first = logged_in_user(client, phone)
    first.add_dependent("赵老太", grandma)
    wechat_user.login()
    wechat_user.is_really("赵小军", me)
    assert wechat_user.declare_verified("赵小军", me).status_code == 200

    added = wechat_user.add_dependent("赵老太", grandma)

    assert added.get_json()["status"] == "linked"
    assert [n["kind"] for n in first.me()["notices"]] == ["holder_added"]


def test_adults_under_sixty_are_family_members_only_when_declared_unable(
    wechat_user: MiniProgramUser,
) -> None:
    wechat_user.login()
    adult = cn_id(birth="19900101")
    refused = wechat_user.add_dependent("张三", adult)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "proxy_not_allowed"
    assert wechat_user.me()["dependents"] == []

    added = wechat_user.add_dependent("张三", adult, unable_to_apply=True)
    assert added.get_json()["status"] == "linked"


def test_a_person_sees_and_removes_who_holds_them(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19480101")
    holder = logged_in_user(client, phone)
    holder.bind_phone("13700001111")
    holder.declare("王强", cn_id(birth="19750101"))
    held = holder.add_dependent("李秀英", grandma).get_json()["dependent"]
    wechat_user.login()
    wechat_user.is_really("李秀英", grandma)
    assert wechat_user.declare_verified("李秀英", grandma).status_code == 200

    holders = wechat_user.me()["holders"]
    assert [(h["relation"], h["name_masked"], h["phone_masked"]) for h in holders] == [
        ("dependent", "王*", "137****1111")
    ]
    removed = wechat_user.client.delete(
        f"/api/v1/me/holders/{holders[0]['id']}", headers=wechat_user.auth
    )

    assert removed.status_code == 204
    assert wechat_user.me()["holders"] == []
    theirs = holder.me()
    assert theirs["dependents"] == []
    assert [n["kind"] for n in theirs["notices"]] == ["holder_removed"]
    code = holder.client.get(f"/api/v1/residents/{held['id']}/code", headers=holder.auth)
    assert code.status_code == 404


def test_holders_of_someone_else_cannot_be_removed(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19480101")
    holder = logged_in_user(client, phone)
    holder.add_dependent("李秀英", grandma)
    wechat_user.login()
    wechat_user.is_really("李秀英", grandma)
    wechat_user.declare_verified("李秀英", grandma)
    link_id = wechat_user.me()["holders"][0]["id"]

    stranger = logged_in_user(client, phone)
    stranger.declare("陈六", cn_id())
    for user in (stranger, holder):
        refused = user.client.delete(f"/api/v1/me/holders/{link_id}", headers=user.auth)
        assert refused.status_code == 404
    assert len(wechat_user.me()["holders"]) == 1


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
    added = wechat_user.add_dependent("李秀英", cn_id(birth="19480101")).get_json()["dependent"]
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
    theirs = alipay_user.add_dependent("李秀英", cn_id(birth="19480101")).get_json()["dependent"]

    foreign = wechat_user.client.delete(
        f"/api/v1/me/dependents/{theirs['id']}", headers=wechat_user.auth
    )
    unknown = wechat_user.client.delete("/api/v1/me/dependents/r_nope", headers=wechat_user.auth)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json() == unknown.get_json()
    assert [d["id"] for d in alipay_user.me()["dependents"]] == [theirs["id"]]


def test_requests_for_a_person_who_logs_in_themselves_go_to_nobody(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19480101")
    holder = logged_in_user(client, phone)
    holder.add_dependent("李秀英", grandma)
    asker = logged_in_user(client, phone)
    asker.add_dependent("李秀英", grandma)
    assert len(holder.me()["link_requests"]) == 1

    wechat_user.login()
    wechat_user.is_really("李秀英", grandma)
    assert wechat_user.declare_verified("李秀英", grandma).status_code == 200

    # Now she decides who holds her: her old holder is not asked, and neither is she (it is
    # not her own request to answer either).
    assert holder.me()["link_requests"] == []
    assert wechat_user.me()["link_requests"] == []
