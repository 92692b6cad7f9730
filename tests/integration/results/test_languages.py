"""Result guidance in the caller's language: Simplified Chinese by default, English by
``Accept-Language``, with a stable ``guidance_code``; the results screen kept once per
language (``results``, ``results@en``), answered at the gate and in Flask alike, and dropped
in both when a result arrives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from miniapp_api.accountview import view_key
from miniapp_api.messages import GUIDANCE
from miniapp_api.residents.models import Relation, Resident
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result
from tests.support.factories import (
    Desk,
    ago,
    bearer,
    make_account,
    make_desk,
    make_lab,
    make_residents,
    make_tube,
)

EN = {"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}


def gate_is_on(app: Flask) -> bool:
    return bool(app.extensions.get("miniapp.admission"))


def views_reached(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The languages asked of the results view when it ran (the gate answers before it)."""
    reached: list[str] = []
    view = app.view_functions["results.get_results"]

    def calling(**arguments: Any) -> Any:
        reached.append(request.headers.get("Accept-Language", "-"))
        return view(**arguments)

    monkeypatch.setitem(app.view_functions, "results.get_results", calling)
    return reached


@dataclass(frozen=True)
class Positive:
    """An account whose one resident tested positive, and the desk and lab that did it."""

    account_id: str
    headers: dict[str, str]
    resident: Resident
    desk: Desk
    lab: LabClient


def positive_person(app: Flask) -> Positive:
    (me,) = make_residents(app, 1)
    account = make_account(app, [(me, Relation.SELF)])
    lab = make_lab(app)
    desk = make_desk(app, lab)
    lab_client = LabClient(app.test_client(), lab)
    uploaded = lab_client.upload([result(make_tube(app, desk, [me], capacity=1), "positive")])
    assert uploaded.status_code == 200, uploaded.get_json()
    return Positive(account.public_id, bearer(app, account), me, desk, lab_client)


def latest(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/results", headers=headers)
    assert response.status_code == 200, response.get_json()
    shown: dict[str, Any] = response.get_json()["residents"][0]["latest"]
    return shown


def test_guidance_is_chinese_by_default_and_english_when_asked(served: Flask) -> None:
    client = served.test_client()
    headers = positive_person(served).headers

    zh = client.get("/api/v1/results", headers=headers)
    en = client.get("/api/v1/results", headers={**headers, **EN})

    for response in (zh, en):
        assert response.status_code == 200
        assert response.headers["Vary"] == "Accept-Language"
        assert response.get_json()["residents"][0]["latest"]["guidance_code"] == "positive"
    assert zh.get_json()["residents"][0]["latest"]["guidance"] == GUIDANCE["positive"].zh
    assert en.get_json()["residents"][0]["latest"]["guidance"] == GUIDANCE["positive"].en
    assert (zh.headers["Content-Language"], en.headers["Content-Language"]) == ("zh-CN", "en")
    assert zh.headers["ETag"] != en.headers["ETag"]


def test_each_language_is_kept_apart_and_answered_from_its_own_field(
    served: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = served.test_client()
    person = positive_person(served)
    account_id, headers = person.account_id, person.headers
    first_en = client.get("/api/v1/results", headers={**headers, **EN})
    first_zh = client.get("/api/v1/results", headers=headers)
    kept = wiring_of(served).redis.hgetall(view_key(account_id))
    reached = views_reached(served, monkeypatch)

    again = {
        "zh": client.get("/api/v1/results", headers={**headers, "Accept-Language": "zh-CN"}),
        "en": client.get("/api/v1/results", headers={**headers, **EN}),
        "none": client.get("/api/v1/results", headers=headers),
        "other": client.get("/api/v1/results", headers={**headers, "Accept-Language": "fr"}),
    }

    assert {b"results", b"results@en"} <= set(kept)
    assert kept[b"results"] != kept[b"results@en"]
    assert again["en"].get_data() == first_en.get_data()
    assert again["en"].headers["ETag"] == first_en.headers["ETag"]
    for name in ("zh", "none", "other"):
        assert again[name].get_data() == first_zh.get_data(), name
        assert again[name].headers["Content-Language"] == "zh-CN"
    # Admission on: the gate answered each from its language's field; off: the view did.
    assert reached == ([] if gate_is_on(served) else ["zh-CN", EN["Accept-Language"], "-", "fr"])


def test_an_english_tag_is_not_a_match_for_the_chinese_screen(served: Flask) -> None:
    client = served.test_client()
    headers = positive_person(served).headers
    zh_tag = client.get("/api/v1/results", headers=headers).headers["ETag"]

    en = client.get("/api/v1/results", headers={**headers, **EN, "If-None-Match": zh_tag})
    zh = client.get("/api/v1/results", headers={**headers, "If-None-Match": zh_tag})

    assert en.status_code == 200
    assert en.get_json()["residents"][0]["latest"]["guidance"] == GUIDANCE["positive"].en
    assert zh.status_code == 304
    assert zh.headers["ETag"] == zh_tag
    assert zh.headers["Vary"] == "Accept-Language"
    # A 304 carries no metadata of a representation (RFC 9110, 15.4.5): Flask's and the
    # gate's alike.
    assert "Content-Language" not in zh.headers


def test_a_new_result_drops_the_kept_screen_in_both_languages(served: Flask) -> None:
    client = served.test_client()
    person = positive_person(served)
    account_id, headers = person.account_id, person.headers
    latest(client, headers)
    latest(client, {**headers, **EN})
    redis = wiring_of(served).redis
    assert {b"results", b"results@en"} <= set(redis.hgetall(view_key(account_id)))

    # Sampled again, and the re-test is invalid: the read model drops what the account saw.
    again = make_desk(served, person.desk.lab)
    tube = make_tube(served, again, [person.resident], scanned_at=ago(hours=1))
    uploaded = person.lab.upload([result(tube, "invalid")])
    assert uploaded.status_code == 200, uploaded.get_json()
    left = set(redis.hgetall(view_key(account_id)))

    assert not {b"results", b"results@en"} & left
    zh, en = latest(client, headers), latest(client, {**headers, **EN})
    assert (zh["guidance_code"], en["guidance_code"]) == ("invalid", "invalid")
    assert (zh["guidance"], en["guidance"]) == (GUIDANCE["invalid"].zh, GUIDANCE["invalid"].en)


def test_overdue_guidance_names_the_hours_and_the_site_in_either_language(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    (me,) = make_residents(app, 1)
    headers = bearer(app, make_account(app, [(me, Relation.SELF)]))
    make_tube(app, desk, [me], scanned_at=ago(hours=49))

    zh, en = latest(client, headers), latest(client, {**headers, **EN})

    assert (zh["guidance_code"], en["guidance_code"]) == ("overdue", "overdue")
    assert (zh["overdue"], en["overdue"]) == (True, True)
    assert "48 小时" in zh["guidance"]
    assert "48 hours" in en["guidance"]
    assert desk.site_name in zh["guidance"]
    assert desk.site_name in en["guidance"]


def test_a_pending_or_negative_result_has_no_guidance(
    app: Flask, client: FlaskClient, desk: Desk, lab_client: LabClient
) -> None:
    pending, negative = make_residents(app, 2)
    headers = bearer(app, make_account(app, [(pending, Relation.SELF)]))
    other = bearer(app, make_account(app, [(negative, Relation.SELF)]))
    make_tube(app, desk, [pending])
    lab_client.upload([result(make_tube(app, desk, [negative]), "negative")])

    for shown in (latest(client, {**headers, **EN}), latest(client, other)):
        assert (shown["guidance_code"], shown["guidance"]) == (None, None)


def test_the_history_speaks_the_callers_language(
    app: Flask, client: FlaskClient, desk: Desk, lab_client: LabClient
) -> None:
    (me,) = make_residents(app, 1)
    headers = bearer(app, make_account(app, [(me, Relation.SELF)]))
    lab_client.upload(
        [result(make_tube(app, desk, [me], capacity=1, scanned_at=ago(hours=5)), "positive")]
    )
    make_tube(app, make_desk(app, desk.lab), [me])  # a newer sampling (round), pending

    def history(extra: dict[str, str]) -> tuple[Any, ...]:
        response = client.get("/api/v1/results/history", headers={**headers, **extra})
        assert response.status_code == 200, response.get_json()
        samplings = response.get_json()["residents"][0]["samplings"]
        guided = [s for s in samplings if s["guidance_code"] == "positive"]
        return response.headers["Content-Language"], [s["guidance"] for s in guided]

    assert history({}) == ("zh-CN", [GUIDANCE["positive"].zh])
    assert history(EN) == ("en", [GUIDANCE["positive"].en])
