"""Claims on an existing record: the platform's real-name check lets the real person in and
takes over what others claimed without it (README, "How identity works").

Each attack below worked before the real-name check existed: a record created as someone's
dependent could never be claimed by its person, and whoever first declared an ID number with
their own phone locked its person out.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def another(client: FlaskClient, phone: EmulatorPhone, platform: str = "wechat") -> MiniProgramUser:
    user = MiniProgramUser(client, phone, platform)
    assert user.login().status_code == 200
    return user


def test_the_person_claims_the_record_a_relative_created_for_them(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    grandma = cn_id(birth="19500101")
    wechat_user.login()
    added = wechat_user.add_dependent("李秀英", grandma).get_json()["dependent"]

    # Grandma logs in herself: the record has no phone, so name + phone can never match.
    alipay_user.login()
    alipay_user.bind_phone("13911112222")
    assert alipay_user.declare("李秀英", grandma).status_code == 409

    alipay_user.is_really("李秀英", grandma)
    claimed = alipay_user.declare_verified("李秀英", grandma)

    assert claimed.status_code == 200, claimed.get_json()
    mine = alipay_user.me()
    assert mine["self"]["id"] == added["id"]
    assert mine["self"]["verified"] is True
    assert mine["self"]["phone_masked"] == "139****2222"
    # Her grandson still holds her, and she sees it.
    assert [(h["relation"], h["platform"]) for h in mine["holders"]] == [("dependent", "wechat")]
    assert [d["id"] for d in wechat_user.me()["dependents"]] == [added["id"]]


def test_the_real_person_takes_over_a_squatters_claim(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    victim = cn_id(birth="19900101")
    squatter = another(client, phone, "alipay")
    assert squatter.register("张三", victim, phone="13700009999").status_code == 200

    # The real 张三 has another phone: refused, whatever he types, until the platform vouches.
    assert wechat_user.register("张三", victim, phone="13812345678").status_code == 409
    wechat_user.is_really("张三", victim)
    taken = wechat_user.declare_verified("张三", victim)

    assert taken.status_code == 200, taken.get_json()
    assert wechat_user.me()["self"]["phone_masked"] == "138****5678"
    squatters = squatter.me()
    assert squatters["self"] is None
    assert [(n["kind"], n["name_masked"]) for n in squatters["notices"]] == [
        ("claim_taken_over", "张*")
    ]
    # The squatter's phone no longer opens the record: claiming again is refused.
    again = squatter.declare("张三", victim)
    assert again.status_code == 409
    assert again.get_json()["code"] == "identity_claim_refused"


def test_a_verified_claim_keeps_other_verified_logins_of_the_person(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    for user in (wechat_user, alipay_user):
        user.login()
        user.is_really("王五", person)
    assert wechat_user.declare_verified("王五", person).status_code == 200
    assert alipay_user.declare_verified("王五", person).status_code == 200

    assert wechat_user.me()["self"]["id"] == alipay_user.me()["self"]["id"]
    assert [h["verified"] for h in wechat_user.me()["holders"]] == [True]


def test_a_platform_that_knows_someone_else_confirms_nothing(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.register("张三", person)
    before = wechat_user.me()

    alipay_user.login()
    alipay_user.is_really("李四", cn_id())
    refused = alipay_user.declare_verified("张三", person)

    assert refused.status_code == 409
    assert refused.get_json()["code"] == "real_name_not_confirmed"
    assert alipay_user.me()["self"] is None
    assert wechat_user.me() == before


def test_a_wechat_code_is_the_consent_of_one_login_only(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.register("张三", person)
    attacker = another(client, phone)
    attacker.is_really("陈六", cn_id())
    # The attacker replays the victim's consent code (say, from a shared screen recording).
    victims_code = phone.wechat_real_name_code(wechat_user.subject or "")

    refused = attacker.declare_verified("张三", person, proof={"code": victims_code})

    assert refused.status_code in (400, 409)
    assert attacker.me()["self"] is None


def test_an_alipay_certification_is_bound_to_its_claim_and_login(
    client: FlaskClient, phone: EmulatorPhone, alipay_user: MiniProgramUser
) -> None:
    mine, theirs = cn_id(), cn_id()
    alipay_user.login()
    alipay_user.is_really("张三", mine)
    proof = alipay_user.real_name_proof("张三", mine)  # passed: it is really them

    # Used for another ID number, or by another login, it confirms nothing.
    assert alipay_user.declare_verified("张三", theirs, proof=proof).status_code == 409
    other = another(client, phone, "alipay")
    other.is_really("张三", mine)
    assert other.declare_verified("张三", mine, proof=proof).status_code == 409

    assert alipay_user.declare_verified("张三", mine, proof=proof).status_code == 200
    # One certification, one use.
    assert alipay_user.declare_verified("张三", mine, proof=proof).status_code == 409


def test_real_name_checks_cover_mainland_id_cards_only(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    body = {"name": "John Smith", "id_type": "passport", "id_number": "E12345678"}
    refused = wechat_user.client.post("/api/v1/me/real-name", json=body, headers=wechat_user.auth)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "real_name_unsupported"


def test_an_unverified_co_holder_cannot_move_a_verified_record_to_their_phone(
    client: FlaskClient, phone: EmulatorPhone, wechat_user: MiniProgramUser
) -> None:
    person = cn_id()
    wechat_user.login()
    wechat_user.bind_phone("13812345678")
    wechat_user.is_really("张三", person)
    assert wechat_user.declare_verified("张三", person).status_code == 200
    # A second login with the same phone claims it the old way (name + phone), then rebinds.
    second = another(client, phone, "alipay")
    assert second.register("张三", person, phone="13812345678").status_code == 200
    assert second.bind_phone("13600001111").status_code == 200

    assert wechat_user.me()["self"]["phone_masked"] == "138****5678"
    renamed = second.declare("张四", person)
    assert renamed.status_code == 409
    assert renamed.get_json()["code"] == "profile_verified"
