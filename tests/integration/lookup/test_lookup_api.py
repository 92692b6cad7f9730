"""``POST /api/v1/lookup``: one person's results by registration code and full ID number."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.messages import CONTENT_LANGUAGE, Language
from miniapp_api.messages.lookup import NO_MATCH
from tests.integration.lookup.conftest import LOOKUP, id_ending_in_x, look_up, reissue, tampered
from tests.support import sensitive
from tests.support.clients import LabClient, result
from tests.support.factories import Desk, ago, make_desk, make_person, make_tube, unissued_code


def test_the_right_code_and_id_number_show_that_persons_results_and_no_one_elses(
    app: Flask, client: FlaskClient, desk: Desk, lab_client: LabClient
) -> None:
    person = make_person(app, "欧阳娜娜")
    neighbour = make_person(app, "李秀英")
    earlier = make_tube(app, make_desk(app, desk.lab), [person.resident], scanned_at=ago(hours=50))
    pooled = make_tube(app, desk, [person.resident, neighbour.resident])
    uploaded = lab_client.upload([result(earlier, "negative"), result(pooled, "negative")])
    assert uploaded.status_code == 200, uploaded.get_json()

    response = look_up(client, person.token, person.id_number)

    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"name_masked", "latest", "history"}
    assert body["name_masked"] == "欧**娜"
    latest = body["latest"]
    assert (latest["state"], latest["tube_no"]) == ("negative", pooled)
    assert (latest["site"], latest["round"]) == (desk.site_name, desk.round_name)
    assert latest["tested_at"] is not None
    assert latest["overdue"] is False
    assert [(h["state"], h["tube_no"]) for h in body["history"]] == [("negative", earlier)]
    assert "李*英" not in response.get_data(as_text=True)


def test_a_pending_result_over_48_hours_is_flagged_with_guidance(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    person = make_person(app)
    make_tube(app, desk, [person.resident], scanned_at=ago(hours=49))

    latest = look_up(client, person.token, person.id_number).get_json()["latest"]

    assert (latest["state"], latest["overdue"]) == ("pending", True)
    assert desk.site_name in latest["guidance"]


def test_a_person_never_sampled_gets_no_result_rather_than_an_error(
    app: Flask, client: FlaskClient
) -> None:
    person = make_person(app)

    response = look_up(client, person.token, person.id_number)

    assert response.status_code == 200
    assert response.get_json()["latest"] is None
    assert response.get_json()["history"] == []


def test_the_history_is_short(app: Flask, client: FlaskClient, desk: Desk) -> None:
    person = make_person(app)
    for days in range(8):
        make_tube(
            app, make_desk(app, desk.lab), [person.resident], scanned_at=ago(hours=2 + 24 * days)
        )

    body = look_up(client, person.token, person.id_number).get_json()

    assert body["latest"] is not None
    assert len(body["history"]) == 5
    times = [body["latest"]["sampled_at"]] + [h["sampled_at"] for h in body["history"]]
    assert times == sorted(times, reverse=True)


def test_an_id_number_may_be_typed_with_spaces_dashes_and_a_lower_case_x(
    app: Flask, client: FlaskClient
) -> None:
    person = make_person(app, id_number=id_ending_in_x())
    assert person.id_number.endswith("X")
    number = person.id_number.lower()
    typed = f" {number[:6]} {number[6:14]}-{number[14:]} "

    response = look_up(client, person.token, typed)

    assert response.status_code == 200, response.get_json()


def test_the_id_ending_alone_no_longer_opens_the_results(app: Flask, client: FlaskClient) -> None:
    """A screenshot of the code (or the masked ID) holds at most the ending: it is not enough."""
    person = make_person(app)

    old_field = client.post(LOOKUP, json={"code": person.token, "id_last4": person.last4})
    ending_only = look_up(client, person.token, person.last4)
    masked = look_up(client, person.token, person.id_number[:3] + "*" * 11 + person.last4)

    for response in (old_field, ending_only, masked):
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "validation_failed"
    assert look_up(client, person.token, person.id_number).status_code == 200


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_wrong_id_number_is_not_found_with_what_to_check(
    app: Flask, client: FlaskClient, language: Language
) -> None:
    """The raise site's sentence in both languages, not the catalogue's bare "not found"."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    person = make_person(app)

    response = look_up(client, person.token, person.wrong_id_number)

    assert response.status_code == 404
    assert response.get_json() == {
        "code": "not_found",
        "message": NO_MATCH.in_(language),
        "detail": None,
    }
    assert response.headers["Content-Language"] == CONTENT_LANGUAGE[language]


def test_a_wrong_id_number_an_unknown_a_reissued_and_a_forged_code_get_the_same_answer(
    app: Flask, client: FlaskClient
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the raise site's English sentence
    person = make_person(app)
    moved_on = make_person(app, "李秀英")
    stale_token = moved_on.token
    moved_on = reissue(app, moved_on)

    answers = {
        "wrong ID number": look_up(client, person.token, person.wrong_id_number),
        "unknown code": look_up(client, unissued_code(app, person.resident), person.id_number),
        "re-issued code": look_up(client, stale_token, moved_on.id_number),
        "tampered code": look_up(client, tampered(person.token), person.id_number),
        "not a code": look_up(client, "this-is-not-a-registration-code", person.id_number),
    }

    bodies = {what: (r.status_code, r.get_data()) for what, r in answers.items()}
    expected = (404, answers["wrong ID number"].get_data())
    assert bodies == dict.fromkeys(answers, expected)
    assert json.loads(expected[1]) == {"code": "not_found", "message": NO_MATCH.en, "detail": None}
    # The new code works, so the old one was refused for being re-issued, not by chance.
    assert look_up(client, moved_on.token, moved_on.id_number).status_code == 200


def test_an_expired_code_is_refused_with_a_clear_message(app: Flask, client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the raise site's English sentence
    person = make_person(app, expires_at=datetime.now(UTC) - timedelta(days=1))

    response = look_up(client, person.token, person.id_number)

    assert response.status_code == 410
    body = response.get_json()
    assert body["code"] == "code_expired"
    assert "expired" in body["message"]


def test_a_lookup_never_writes_to_the_database(
    app: Flask, client: FlaskClient, desk: Desk, statements: list[str]
) -> None:
    person = make_person(app)
    make_tube(app, desk, [person.resident])
    statements.clear()

    assert look_up(client, person.token, person.id_number).status_code == 200
    assert look_up(client, person.token, person.wrong_id_number).status_code == 404

    assert statements, "the code's row is read from the database"
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements


def test_no_id_number_phone_or_token_in_the_answer_or_the_logs(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    person = make_person(app, phone="13912345678")
    make_tube(app, desk, [person.resident])
    logs_before = len(sensitive.LOG_BUFFER.getvalue())

    answers = [
        look_up(client, person.token, person.id_number),
        look_up(client, person.token, person.wrong_id_number),
        look_up(client, tampered(person.token), person.id_number),
    ]

    logs = sensitive.LOG_BUFFER.getvalue()[logs_before:]
    assert "/api/v1/lookup" in logs, "the access lines were captured"
    for response in answers:
        text = str(dict(response.headers)) + response.get_data(as_text=True)
        wrong = person.wrong_id_number
        for value in (person.id_number, wrong, person.id_number[:-4], "13912345678", "139****5678"):
            assert value not in text
        assert person.token not in text
        assert person.token[-40:] not in text
    for value in (person.id_number, wrong, "13912345678", person.token, tampered(person.token)):
        assert value not in logs


JSON = "application/json"
TOKEN_LIKE = '"code": "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln"'
ID_LIKE = "11010519491231002X"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("code=abc&id_number=" + ID_LIKE, "application/x-www-form-urlencoded", 415),
        ("{" + TOKEN_LIKE + ', "id_number": ', JSON, 400),
        ('{"id_number": "' + ID_LIKE + '"}', JSON, 422),
        ("{" + TOKEN_LIKE + "}", JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_last4": "1234"}', JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_number": "1234"}', JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_number": "' + "1" * 33 + '"}', JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_number": "31011519#00307001X"}', JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_number": 310115199003070011}', JSON, 422),
        ('{"code": "short", "id_number": "' + ID_LIKE + '"}', JSON, 422),
        ("{" + TOKEN_LIKE + ', "id_number": "' + ID_LIKE + '", "name": "x"}', JSON, 422),
    ],
)
def test_bad_bodies_are_refused_before_anything_is_looked_up(
    client: FlaskClient, body: str, content_type: str, status: int
) -> None:
    response = client.post(LOOKUP, data=body, content_type=content_type)

    assert response.status_code == status, response.get_json()
    expected = {415: "unsupported_media_type", 400: "malformed_json", 422: "validation_failed"}
    assert response.get_json()["code"] == expected[status]


def test_the_guidance_is_in_the_language_the_browser_asks_for(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    person = make_person(app)
    make_tube(app, desk, [person.resident], scanned_at=ago(hours=49))

    def asked(language: str | None) -> tuple[str, dict[str, object]]:
        headers = {"Accept-Language": language} if language else {}
        response = client.post(
            LOOKUP, json={"code": person.token, "id_number": person.id_number}, headers=headers
        )
        assert response.status_code == 200, response.get_json()
        return response.headers["Content-Language"], response.get_json()["latest"]

    (zh_tag, zh), (en_tag, en) = asked(None), asked("en-GB,en;q=0.8")

    assert (zh_tag, en_tag) == ("zh-CN", "en")
    assert zh["guidance_code"] == en["guidance_code"] == "overdue"
    assert "小时" in str(zh["guidance"])
    assert "hours after sampling" in str(en["guidance"])
