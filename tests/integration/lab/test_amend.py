"""Amending a final result: explicit, with a reason, history kept, people re-notified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from miniapp_api.notify.payloads import payloads
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult, TubeResultAmendment
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, iso_ago, result
from tests.support.factories import (
    Desk,
    make_account,
    make_desk,
    make_lab,
    make_residents,
    make_tube,
    new_session,
)


def test_an_amendment_keeps_the_history_and_notifies_again(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    people = make_residents(app, 3)
    account = make_account(app, [(people[0], Relation.SELF)])
    tube = make_tube(app, desk, people)
    first_tested = iso_ago(60)
    assert lab_client.upload([result(tube, "negative", first_tested)]).status_code == 200

    response = lab_client.amend(tube, "positive", reason="plate 7 was mislabelled")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["result"], body["version"], body["people"]) == (
        "amended",
        "positive",
        1,
        3,
    )
    [entry] = body["history"]
    assert (entry["previous_result"], entry["new_result"], entry["reason"]) == (
        "negative",
        "positive",
        "plate 7 was mislabelled",
    )
    assert datetime.fromisoformat(entry["previous_tested_at"]) == datetime.fromisoformat(
        first_tested
    )
    with new_session(app) as session:
        assert session.scalar(select(TubeResult.result)) == "positive"
        assert set(session.scalars(select(PersonResult.state))) == {"retest_required"}
        assert len(list(session.scalars(select(TubeResultAmendment)))) == 1
        messages = session.execute(
            select(OutboxMessage.id, OutboxMessage.version)
            .where(OutboxMessage.account_id == account.id)
            .order_by(OutboxMessage.version)
        ).all()
        built = payloads(session, [m.id for m in messages])
    assert [m.version for m in messages] == [0, 1]
    # Each message announces its version: the first one, still queued, the original result.
    first, amended = (built[m.id] for m in messages)
    assert (first["state"], first["version"]) == ("negative", 0)
    assert datetime.fromisoformat(first["tested_at"]) == datetime.fromisoformat(first_tested)
    assert (amended["state"], amended["version"]) == ("retest_required", 1)
    read = wiring_of(app).readmodel.read([people[0].public_id])
    assert read[people[0].public_id][0].state == "retest_required"


def test_a_second_amendment_adds_to_the_history(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, make_residents(app, 1), capacity=1)
    lab_client.upload([result(tube, "negative")])
    lab_client.amend(tube, "positive", reason="first correction")
    response = lab_client.amend(tube, "invalid", reason="second correction")
    body = response.get_json()
    assert body["version"] == 2
    assert [(h["previous_result"], h["new_result"]) for h in body["history"]] == [
        ("negative", "positive"),
        ("positive", "invalid"),
    ]


def test_amending_to_the_same_result_changes_nothing(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, make_residents(app, 1))
    at = iso_ago(30)
    lab_client.upload([result(tube, "negative", at)])
    response = lab_client.amend(tube, "negative", tested_at=at)
    assert response.get_json()["status"] == "unchanged"
    assert response.get_json()["history"] == []


def test_amending_another_labs_tube_is_the_same_404_as_an_unknown_tube(
    app: Flask, lab_client: LabClient
) -> None:
    other = make_lab(app)
    theirs = make_tube(app, make_desk(app, other), make_residents(app, 1))
    assert LabClient(lab_client.client, other).upload([result(theirs)]).status_code == 200

    forbidden = lab_client.amend(theirs, "positive")
    unknown = lab_client.amend("NOSUCHTUBE", "positive")

    assert forbidden.status_code == unknown.status_code == 404
    assert forbidden.get_json() == unknown.get_json()
    with new_session(app) as session:
        assert session.scalar(select(TubeResult.result)) == "negative"


def test_amending_a_tube_without_a_result_is_refused(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, [])
    response = lab_client.amend(tube, "positive")
    assert response.status_code == 409
    assert response.get_json()["code"] == "no_result_to_amend"


def test_an_amendment_tested_in_the_future_is_refused(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, [])
    lab_client.upload([result(tube)])
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = lab_client.amend(tube, "positive", tested_at=ahead)
    assert response.status_code == 422
    assert response.get_json()["code"] == "tested_in_future"


def test_a_retried_amendment_with_its_key_is_applied_once(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, make_residents(app, 1))
    lab_client.upload([result(tube, "negative")])
    at = iso_ago(2)
    first = lab_client.amend(tube, "invalid", tested_at=at, idempotency_key="amend-1")
    again = lab_client.amend(tube, "invalid", tested_at=at, idempotency_key="amend-1")
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with new_session(app) as session:
        assert len(list(session.scalars(select(TubeResultAmendment)))) == 1
