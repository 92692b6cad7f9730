"""The per-item messages of a batch of scans: Chinese unless the staff app asks for English,
the status the same either way, and a re-sent item's stored answer said in the language asked
for now."""

from __future__ import annotations

from typing import Any

from flask import Flask

from miniapp_api.messages import SCAN_MESSAGES
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import make_person, make_round, make_site, make_staff

EN = {"Accept-Language": "en"}


def logged_in_staff(app: Flask) -> StaffClient:
    member = make_staff(app, make_site(app))
    make_round(app)
    staff = StaffClient(app.test_client(), member.username)
    assert staff.login().status_code == 200
    return staff


def scan(staff: StaffClient, items: list[dict[str, Any]], headers: dict[str, str]) -> Any:
    response = staff.client.post(
        "/api/v1/sampling/scans", json={"items": items}, headers={**staff.auth, **headers}
    )
    assert response.status_code == 200, response.get_json()
    return response


def test_messages_are_chinese_by_default_and_english_when_asked(app: Flask) -> None:
    staff = logged_in_staff(app)
    person = make_person(app)
    items = [scan_item(person.token, "LANG-1"), scan_item("not a code", "LANG-1")]
    items[1]["client_id"] = "lang-invalid"

    zh = scan(staff, items, {})
    en = scan(staff, items, EN)  # the same items again: the stored answers, said in English

    assert zh.headers["Content-Language"] == "zh-CN"
    assert en.headers["Content-Language"] == "en"
    zh_items, en_items = zh.get_json()["items"], en.get_json()["items"]
    assert (
        [i["status"] for i in zh_items]
        == [i["status"] for i in en_items]
        == [
            "bound",
            "invalid",
        ]
    )
    assert zh_items[0]["message"] == SCAN_MESSAGES["bound"].zh.format(tube_no="LANG-1")
    assert en_items[0]["message"] == SCAN_MESSAGES["bound"].en.format(tube_no="LANG-1")
    assert zh_items[1]["message"] == SCAN_MESSAGES["invalid"].zh
    assert en_items[1]["message"] == SCAN_MESSAGES["invalid"].en
    # Besides the message, the stored answer is sent again as it was.
    strip = [{k: v for k, v in i.items() if k != "message"} for i in zh_items]
    assert strip == [{k: v for k, v in i.items() if k != "message"} for i in en_items]


def test_a_duplicate_names_the_first_site_in_either_language(app: Flask) -> None:
    first = logged_in_staff(app)
    person = make_person(app)
    scan(first, [scan_item(person.token, "DUP-1")], {})
    second = StaffClient(app.test_client(), make_staff(app, make_site(app)).username)
    assert second.login().status_code == 200

    zh = scan(second, [scan_item(person.token, "DUP-2")], {}).get_json()["items"][0]
    en = scan(second, [scan_item(person.token, "DUP-3")], EN).get_json()["items"][0]

    assert zh["status"] == en["status"] == "duplicate"
    site = zh["first_scan"]["site"]
    assert site in zh["message"]
    assert site in en["message"]
    assert zh["message"].startswith("此人本轮已在")
    assert en["message"].startswith("Already sampled in this round")
