"""Consents (``miniapp_api/residents/consents.py``): recorded with the page's hash and the
channel, required at their current versions before any write of an ID number, and, once
withdrawn, stopping codes and results (kept ones included) until given again."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from miniapp_api.accountview import RESULTS_SCREEN, forget, view_key
from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA, ConsentUse
from miniapp_api.legal.rendering import content_hash
from miniapp_api.residents.models import Consent, Relation, Resident
from miniapp_api.residents.schemas import ConsentDocument
from miniapp_api.wiring import wiring_of
from tests.support.factories import bearer, make_account, make_residents
from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser

SCREENS = ("code", "code.png", "code.svg")


def count(app: Flask, model: type[Any]) -> int:
    with wiring_of(app).db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def required(answer: Any) -> list[tuple[str, str, str]]:
    """The documents a ``consent_required`` answer names: (name, version, url)."""
    body = answer.get_json()
    assert (answer.status_code, body["code"]) == (409, "consent_required"), body
    return [(d["name"], d["version"], d["url"]) for d in body["detail"]["documents"]]


def current(*names: str) -> list[tuple[str, str, str]]:
    return [(n, DOCUMENTS[n].version, f"/legal/{n}") for n in names]


def shows(user: MiniProgramUser, resident_id: str) -> dict[str, int]:
    """The status of each code screen of ``resident_id`` and of the results."""
    get = user.client.get
    found = {
        s: get(f"/api/v1/residents/{resident_id}/{s}", headers=user.auth).status_code
        for s in SCREENS
    }
    found["results"] = get("/api/v1/results", headers=user.auth).status_code
    return found


def test_sensitive_writes_without_consent_are_refused_naming_the_documents_and_write_nothing(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login(consent=False)
    person = {"name": "张三", "id_type": "cn_id", "id_number": cn_id()}

    refused = [
        wechat_user.declare("张三", person["id_number"]),
        wechat_user.add_dependent("李秀英", cn_id(birth="19480101")),
        wechat_user.client.post("/api/v1/me/real-name", json=person, headers=wechat_user.auth),
    ]

    for answer in refused:
        assert required(answer) == current(*REQUIRED_FOR_SENSITIVE_DATA)
    me = wechat_user.me()
    assert (me["self"], me["dependents"], me["consents"]) == (None, [], [])
    assert [d["name"] for d in me["consents_required"]] == list(REQUIRED_FOR_SENSITIVE_DATA)
    assert count(app, Resident) == 0


def test_only_the_missing_documents_are_named(wechat_user: MiniProgramUser) -> None:
    wechat_user.login(consent=False)
    wechat_user.consent("privacy", "terms")

    refused = wechat_user.declare("张三", cn_id())

    assert required(refused) == current("sensitive-data")


def test_a_consent_records_the_version_the_hash_of_the_page_and_the_channel(
    app: Flask, alipay_user: MiniProgramUser
) -> None:
    alipay_user.login(consent=False)

    (given,) = alipay_user.consent("sensitive-data")
    (again,) = alipay_user.consent("sensitive-data")

    assert given.status_code == 201, given.get_json()
    body = given.get_json()
    assert body["kind"] == "sensitive-data"
    assert body["document_version"] == DOCUMENTS["sensitive-data"].version
    assert body["document_sha256"] == content_hash("sensitive-data")
    assert (body["channel"], body["current"], body["withdrawn_at"]) == ("alipay", True, None)
    assert again.status_code == 200
    assert again.get_json() == body, "the consent on record, not a second one"
    assert count(app, Consent) == 1
    assert alipay_user.me()["consents"] == [body]


def test_another_version_than_the_current_is_refused_with_the_current_one(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login(consent=False)

    (refused,) = wechat_user.consent("privacy", version="2020-01-01")

    assert refused.status_code == 409
    assert refused.get_json()["code"] == "document_outdated"
    assert [(d["name"], d["version"]) for d in refused.get_json()["detail"]["documents"]] == [
        ("privacy", DOCUMENTS["privacy"].version)
    ]
    assert count(app, Consent) == 0


def test_notices_and_unknown_documents_take_no_consent(wechat_user: MiniProgramUser) -> None:
    wechat_user.login(consent=False)
    notices = [n for n, d in DOCUMENTS.items() if d.consent is ConsentUse.NOTICE]
    assert notices, "the registry has notices to try"

    for name in [*notices, "nonsense"]:
        (refused,) = wechat_user.consent(
            name, version=DOCUMENTS.get(name, DOCUMENTS["terms"]).version
        )
        assert refused.status_code == 422, (name, refused.get_json())
        withdrawn = wechat_user.withdraw(name)
        assert (withdrawn.status_code, withdrawn.get_json()["code"]) == (404, "document_not_found")


def test_the_schema_offers_exactly_the_documents_that_ask_for_consent(
    client: FlaskClient,
) -> None:
    asking = {n for n, d in DOCUMENTS.items() if d.consent is not ConsentUse.NOTICE}
    assert set(get_args(ConsentDocument)) == asking == set(REQUIRED_FOR_SENSITIVE_DATA)
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert set(schemas["ConsentIn"]["properties"]["document"]["enum"]) == asking


def test_a_new_version_asks_again_at_the_next_sensitive_write(
    wechat_user: MiniProgramUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    self_id = wechat_user.me()["self"]["id"]
    newer = dataclasses.replace(DOCUMENTS["privacy"], version="2099-01-01")
    monkeypatch.setitem(DOCUMENTS, "privacy", newer)

    refused = wechat_user.add_dependent("李秀英", cn_id(birth="19480101"))

    assert required(refused) == [("privacy", "2099-01-01", "/legal/privacy")]
    me = wechat_user.me()
    assert me["dependents"] == []
    assert [(d["name"], d["version"]) for d in me["consents_required"]] == [
        ("privacy", "2099-01-01")
    ]
    assert [c["current"] for c in me["consents"] if c["kind"] == "privacy"] == [False]
    # Consent to the older version was not withdrawn: the code and results still show.
    assert set(shows(wechat_user, self_id).values()) == {200}

    (given,) = wechat_user.consent("privacy")
    assert (given.status_code, given.get_json()["document_version"]) == (201, "2099-01-01")
    added = wechat_user.add_dependent("李秀英", cn_id(birth="19480101"))
    assert added.status_code == 201, added.get_json()
    assert wechat_user.me()["consents_required"] == []


def test_withdrawing_stops_codes_and_results_kept_ones_too_until_consent_is_given_again(
    wechat_user: MiniProgramUser, redis_client: redis.Redis
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    me = wechat_user.me()
    self_id, account_id = me["self"]["id"], me["account"]["id"]
    token = wechat_user.client.get(
        f"/api/v1/residents/{self_id}/code", headers=wechat_user.auth
    ).get_json()["token"]
    assert set(shows(wechat_user, self_id).values()) == {200}
    for field in (f"code:{self_id}", f"png:{self_id}", f"svg:{self_id}", "results"):
        assert redis_client.hexists(view_key(account_id), field), f"{field} is kept"

    withdrawn = wechat_user.withdraw("sensitive-data")

    assert withdrawn.status_code == 200, withdrawn.get_json()
    body = withdrawn.get_json()
    assert body["consent"]["kind"] == "sensitive-data"
    assert body["consent"]["withdrawn_at"] is not None
    assert "核酸码" in body["meaning"]["zh"]
    assert "注销" in body["meaning"]["zh"]
    assert "registration code" in body["meaning"]["en"]
    assert [d["name"] for d in body["consents_required"]] == ["sensitive-data"]
    assert set(shows(wechat_user, self_id).values()) == {409}
    refusals = [
        wechat_user.client.get(f"/api/v1/residents/{self_id}/code", headers=wechat_user.auth),
        wechat_user.client.post(f"/api/v1/residents/{self_id}/code", headers=wechat_user.auth),
        wechat_user.client.get("/api/v1/results", headers=wechat_user.auth),
        wechat_user.client.get("/api/v1/results/history", headers=wechat_user.auth),
        wechat_user.declare("张三", cn_id()),
    ]
    for answer in refusals:
        assert required(answer) == current("sensitive-data")
    assert not redis_client.exists(view_key(account_id)), "a refusal is never kept"
    on_record = [c for c in wechat_user.me()["consents"] if c["kind"] == "sensitive-data"]
    assert [c["withdrawn_at"] is not None for c in on_record] == [True], "kept as proof"

    (again,) = wechat_user.consent("sensitive-data")

    assert again.status_code == 201
    assert set(shows(wechat_user, self_id).values()) == {200}
    shown = wechat_user.client.get(f"/api/v1/residents/{self_id}/code", headers=wechat_user.auth)
    assert shown.get_json()["token"] == token, "the same code: withdrawal voided nothing"
    assert len([c for c in wechat_user.me()["consents"] if c["kind"] == "sensitive-data"]) == 2


def test_withdrawing_the_terms_stops_them_too_and_twice_finds_nothing_to_withdraw(
    wechat_user: MiniProgramUser,
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    self_id = wechat_user.me()["self"]["id"]
    assert set(shows(wechat_user, self_id).values()) == {200}

    assert wechat_user.withdraw("terms").status_code == 200
    twice = wechat_user.withdraw("terms")

    assert (twice.status_code, twice.get_json()["code"]) == (404, "no_consent")
    assert set(shows(wechat_user, self_id).values()) == {409}


def test_accounts_from_before_consents_keep_their_codes_and_are_asked_at_the_next_write(
    app: Flask, client: FlaskClient
) -> None:
    person = make_residents(app, 1)[0]
    account = make_account(app, [(person, Relation.SELF)])
    headers = bearer(app, account)

    for screen in SCREENS:
        shown = client.get(f"/api/v1/residents/{person.public_id}/{screen}", headers=headers)
        assert shown.status_code == 200, screen
    assert client.get("/api/v1/results", headers=headers).status_code == 200
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert [d["name"] for d in me["consents_required"]] == list(REQUIRED_FOR_SENSITIVE_DATA)
    body = {"name": "张三", "id_type": "cn_id", "id_number": cn_id()}
    refused = client.put("/api/v1/me/profile", json=body, headers=headers)
    assert required(refused) == current(*REQUIRED_FOR_SENSITIVE_DATA)


def test_one_accounts_consents_and_withdrawals_are_its_own(
    wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    assert alipay_user.register("李四", cn_id(), phone="13900001111").status_code == 200
    theirs = alipay_user.me()["self"]["id"]

    assert wechat_user.withdraw("sensitive-data").status_code == 200

    mine = alipay_user.me()["consents"]
    assert {(c["kind"], c["channel"], c["withdrawn_at"]) for c in mine} == {
        (name, "alipay", None) for name in REQUIRED_FOR_SENSITIVE_DATA
    }
    assert len(mine) == len(REQUIRED_FOR_SENSITIVE_DATA)
    assert set(shows(alipay_user, theirs).values()) == {200}
    assert {c["channel"] for c in wechat_user.me()["consents"]} == {"wechat"}


def test_results_rebuilt_from_the_links_copy_still_read_no_database(
    app: Flask, wechat_user: MiniProgramUser, statements: list[str]
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    account_id = wechat_user.me()["account"]["id"]
    assert wechat_user.client.get("/api/v1/results", headers=wechat_user.auth).status_code == 200
    # What a result's arrival does: the kept screen goes, the links copy stays.
    forget(wiring_of(app).redis, [account_id], [RESULTS_SCREEN.field])
    statements.clear()

    rebuilt = wechat_user.client.get("/api/v1/results", headers=wechat_user.auth)

    assert rebuilt.status_code == 200
    assert statements == [], "the consent check runs only where the database is read anyway"
