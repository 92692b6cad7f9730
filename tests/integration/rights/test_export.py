"""GET /api/v1/me/export: everything held, decrypted, to the owner only, a few times an hour."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from miniapp_api.audit.models import AuditEvent
from miniapp_api.rights import limits
from miniapp_api.rights.views import EXPORT_FILENAME
from tests.integration.rights.world import (
    Family,
    open_screening,
    screened_family,
    someone_asks_to_hold,
)
from tests.support import sensitive
from tests.support.factories import committed
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

EXPORT = "/api/v1/me/export"


def exported(client: FlaskClient, user: MiniProgramUser) -> dict[str, Any]:
    response = client.get(EXPORT, headers=user.auth)
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return found


@pytest.fixture
def family(app: Flask, client: FlaskClient, phone: EmulatorPhone) -> Family:
    return screened_family(client, phone, open_screening(app, client))


def test_the_export_holds_every_kind_of_data_decrypted(
    app: Flask, client: FlaskClient, phone: EmulatorPhone, family: Family
) -> None:
    other = someone_asks_to_hold(client, phone, family.dependent_name, family.dependent_id_number)
    asked = family.user.add_dependent(other.name, other.id_number, unable_to_apply=True)
    assert asked.status_code == 201

    response = client.get(EXPORT, headers=family.user.auth)

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{EXPORT_FILENAME}"'
    assert "no-store" in response.headers["Cache-Control"]
    assert response.mimetype == "application/json"
    doc = json.loads(response.get_data(as_text=True))
    assert doc["format"] == "miniapp-export/1"
    account = doc["account"]
    assert (account["subject"], account["unionid"]) == (family.user.subject, family.unionid)
    assert account["phone"] == family.phone
    assert account["session_key_held"] is True
    self_, dependent = doc["residents"]
    assert (self_["relation"], self_["id"]) == ("self", family.self_id)
    assert (self_["name"], self_["id_number"], self_["phone"]) == (
        family.name,
        family.id_number,
        family.phone,
    )
    assert self_["birth_date"] == "1985-02-14"
    assert (dependent["relation"], dependent["id"]) == ("dependent", family.dependent_id)
    assert (dependent["name"], dependent["id_number"]) == (
        family.dependent_name,
        family.dependent_id_number,
    )
    assert dependent["proxy_reason"] == "elderly"
    assert dependent["birth_date"] == "1945-01-01"
    for person in (self_, dependent):
        [code] = person["codes"]
        assert set(code) == {"issued_at", "expires_at", "revoked_at"}
        [sampling] = person["samplings"]
        assert sampling["tube_no"] == family.tube_no
        assert all(sampling[part] for part in ("site", "round", "scanned_at"))
        result = sampling["result"]
        assert (result["state"], result["tube_result"]) == ("negative", "negative")
        [amendment] = result["amendments"]
        assert (amendment["previous_result"], amendment["new_result"]) == ("positive", "negative")
        assert amendment["reason"] == "plate misread"
    assert {c["kind"] for c in doc["consents"]} == {"privacy", "terms", "sensitive-data"}
    assert [n["kind"] for n in doc["notices"]] == ["link_requested"]
    assert [s["remaining"] for s in doc["subscriptions"]] == [1]
    assert len(doc["pushes"]) == 4  # two results, each announced, then amended
    assert {r["direction"] for r in doc["link_requests"]} == {"sent", "received"}
    body = response.get_data(as_text=True)
    for token in family.tokens:  # code tokens are never kept, so never exported
        assert token not in body


def test_each_account_exports_only_its_own_people(
    app: Flask, client: FlaskClient, phone: EmulatorPhone, family: Family
) -> None:
    other = MiniProgramUser(client, phone, "alipay")
    other_id = cn_id(birth="19770707")
    assert other.register("钱七", other_id, phone="13511112222").status_code == 200
    other_dependent = cn_id(birth="20200101")
    added = other.add_dependent("钱小宝", other_dependent, guardian_consent=True)
    assert added.status_code == 201, added.get_json()

    mine = json.dumps(exported(client, family.user), ensure_ascii=False)
    theirs = json.dumps(exported(client, other), ensure_ascii=False)

    for value in ("钱七", other_id, "13511112222", "钱小宝", other_dependent):
        assert value not in mine
        assert value in theirs
    for value in (family.name, family.id_number, family.phone, family.dependent_id_number):
        assert value in mine
        assert value not in theirs
    assert family.self_id not in theirs
    assert family.tube_no not in theirs


def test_the_export_needs_a_session(client: FlaskClient) -> None:
    assert client.get(EXPORT).status_code == 401
    assert client.get(EXPORT, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_three_exports_an_hour_then_429_with_retry_after(
    client: FlaskClient, wechat_user: MiniProgramUser
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    assert limits.EXPORTS.burst == 3
    for _ in range(3):
        assert client.get(EXPORT, headers=wechat_user.auth).status_code == 200
    refused = client.get(EXPORT, headers=wechat_user.auth)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 60
    # Another account has its own budget.
    other = MiniProgramUser(client, wechat_user.phone, "alipay")
    assert other.login().status_code == 200
    assert client.get(EXPORT, headers=other.auth).status_code == 200


def test_an_export_is_audited_and_logs_no_values(
    app: Flask, client: FlaskClient, family: Family
) -> None:
    logs_before = len(sensitive.LOG_BUFFER.getvalue())

    exported(client, family.user)

    logs = sensitive.LOG_BUFFER.getvalue()[logs_before:]
    assert "/api/v1/me/export" in logs  # the access line: something was logged
    for value in (
        family.name,
        family.id_number,
        family.phone,
        family.dependent_name,
        family.dependent_id_number,
        family.unionid,
    ):
        assert value not in logs
    with committed(app) as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "account.export")
        ).all()
    assert event.actor_kind == "account"
    assert event.object == "residents=2"
