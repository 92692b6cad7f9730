"""A family with everything the service can hold about it, made through the API: a login with
a unionid and a phone, a self and a dependent, consents, codes (and their cached images), a
sampling and a lab result with an amendment, a subscription, queued pushes, a notice and link
requests both ways; and the screens a resident looks at, so Redis holds its copies too."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.clients import LabClient, StaffClient, result, scan_item
from tests.support.factories import (
    WECHAT_TEMPLATE,
    LabKey,
    ago,
    make_lab,
    make_round,
    make_site,
    make_staff,
)
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser
from tests.support.sensitive import remember


@dataclass
class Screening:
    """A lab and a staff member of a site sending to it, in an open round."""

    lab: LabKey
    scanner: StaffClient
    site_name: str


def open_screening(app: Flask, client: FlaskClient) -> Screening:
    lab = make_lab(app)
    site = make_site(app, lab=lab)
    staff = make_staff(app, site)
    make_round(app)
    scanner = StaffClient(client, staff.username)
    assert scanner.login().status_code == 200
    return Screening(lab, scanner, site.name)


@dataclass
class Family:
    """What the test made, plaintext included, to look for after a deletion."""

    user: MiniProgramUser
    name: str
    id_number: str
    phone: str
    unionid: str
    dependent_name: str
    dependent_id_number: str
    self_id: str = ""
    dependent_id: str = ""
    tube_no: str = ""
    tokens: list[str] = field(default_factory=list)


def wechat_login_with_unionid(user: MiniProgramUser, unionid: str) -> None:
    """Log ``user`` in on WeChat with a unionid (the emulator's phone side), then consent."""
    phone = user.phone
    answer = phone.http.post(
        f"{phone.base_url}/_emulator/wechat/login",
        json={"openid": user.subject, "unionid": unionid} if user.subject else {"unionid": unionid},
        timeout=5,
    ).json()
    user.subject = answer["openid"]
    response = user.client.post("/api/v1/auth/wechat", json={"code": answer["code"]})
    assert user.logged_in(response).status_code == 200, response.get_json()
    assert all(r.status_code in (200, 201) for r in user.consent())


def screened_family(
    client: FlaskClient,
    phone: EmulatorPhone,
    screening: Screening,
    *,
    name: str = "欧阳娜娜",
    dependent_name: str = "司马秀英",
    phone_number: str = "13987654321",
) -> Family:
    """A WeChat login holding a self and a dependent who were both sampled into one tube,
    whose result came and was amended; every screen looked at once."""
    user = MiniProgramUser(client, phone, "wechat")
    family = Family(
        user,
        name=name,
        id_number=cn_id(birth="19850214"),
        phone=phone_number,
        unionid=f"o6_union{secrets.token_hex(8)}",
        dependent_name=dependent_name,
        dependent_id_number=cn_id(birth="19450101"),  # over 60: a proxy may hold them
    )
    remember(family.unionid)
    wechat_login_with_unionid(user, family.unionid)
    assert user.bind_phone(phone_number).status_code == 200
    declared = user.declare(name, family.id_number)
    assert declared.status_code == 200, declared.get_json()
    added = user.add_dependent(dependent_name, family.dependent_id_number)
    assert added.status_code == 201, added.get_json()
    me = user.me()
    family.self_id, family.dependent_id = me["self"]["id"], me["dependents"][0]["id"]
    accepted = client.post(
        "/api/v1/me/subscriptions", json={"accepted": [WECHAT_TEMPLATE]}, headers=user.auth
    )
    assert accepted.status_code == 200, accepted.get_json()

    family.tube_no = f"T{secrets.randbelow(10**10):010d}"
    items = []
    for resident in (family.self_id, family.dependent_id):
        code = client.get(f"/api/v1/residents/{resident}/code", headers=user.auth)
        assert code.status_code == 200, code.get_json()
        token = code.get_json()["token"]
        family.tokens.append(token)
        png = client.get(f"/api/v1/residents/{resident}/code.png", headers=user.auth)
        assert png.status_code == 200
        items.append(scan_item(token, family.tube_no, capacity=5, scanned_at=ago(minutes=50)))
    answers = screening.scanner.scan_answers(*items)
    assert [a["status"] for a in answers] == ["bound", "bound"], answers
    assert screening.scanner.close(family.tube_no).status_code == 200
    lab = LabClient(client, screening.lab)
    uploaded = lab.upload([result(family.tube_no, "positive")])
    assert uploaded.status_code == 200, uploaded.get_json()
    amended = lab.amend(family.tube_no, "negative", reason="plate misread")
    assert amended.status_code == 200, amended.get_json()
    assert client.get("/api/v1/results", headers=user.auth).status_code == 200
    assert client.get("/api/v1/results/history", headers=user.auth).status_code == 200
    return family


@dataclass
class Other:
    """Another person's login: an Alipay user who declared themselves."""

    user: MiniProgramUser
    name: str
    id_number: str


def someone_asks_to_hold(
    client: FlaskClient, phone: EmulatorPhone, name: str, id_number: str
) -> Other:
    """Another person logs in and asks to hold an existing record as their dependent: a
    pending request, and a notice for whoever holds the record now."""
    other = Other(MiniProgramUser(client, phone, "alipay"), "王五", cn_id(birth="19800101"))
    declared = other.user.register(other.name, other.id_number, phone="13700001111")
    assert declared.status_code == 200, declared.get_json()
    asked = other.user.add_dependent(name, id_number)
    assert asked.status_code == 201, asked.get_json()
    assert asked.get_json()["status"] == "pending"
    return other


def body_of(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = response.get_json()
    return found
