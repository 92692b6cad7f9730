"""``Idempotency-Key``: a retried batch gets the first answer; reuse for other data is refused."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from miniapp_api.lab import idempotency
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import OutboxMessage, TubeResult
from tests.support.clients import LabClient, result
from tests.support.factories import (
    Desk,
    LabKey,
    make_account,
    make_desk,
    make_lab,
    make_lab_request,
    make_residents,
    make_tube,
    new_session,
)


def test_the_same_key_and_body_returns_the_first_answer_once(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    person = make_residents(app, 1)
    make_account(app, [(person[0], Relation.SELF)])
    tube = make_tube(app, desk, person)
    batch = [result(tube, "negative")]

    first = lab_client.upload(batch, idempotency_key="batch-1")
    again = lab_client.upload(batch, idempotency_key="batch-1")

    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert first.get_json()["items"][0]["status"] == "accepted"  # not "already_final"
    assert again.headers["Idempotent-Replayed"] == "true"
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_the_same_key_with_another_body_is_refused(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube, other = make_tube(app, desk, []), make_tube(app, desk, [])
    lab_client.upload([result(tube)], idempotency_key="batch-2")
    response = lab_client.upload([result(other)], idempotency_key="batch-2")
    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_key_reused"
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(TubeResult)) == 1


def test_an_upload_without_a_key_is_refused(app: Flask, lab_client: LabClient, desk: Desk) -> None:
    tube = make_tube(app, desk, [])
    response = lab_client.send("/api/v1/lab/results", {"results": [result(tube)]})
    assert response.status_code == 400
    assert response.get_json()["code"] == "idempotency_key_required"


def test_an_abandoned_claim_is_taken_over(
    app: Flask, lab_client: LabClient, lab: LabKey, desk: Desk
) -> None:
    body = json.dumps({"results": [result(make_tube(app, desk, []))]}).encode()
    make_lab_request(
        app, lab, body, key="batch-4", created_at=datetime.now(UTC) - timedelta(minutes=10)
    )
    response = lab_client.send("/api/v1/lab/results", body, idempotency_key="batch-4")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["accepted"] == 1


def test_two_concurrent_sends_of_one_batch_store_it_once(
    app: Flask, lab_client: LabClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    tube = make_tube(app, desk, make_residents(app, 2))
    inside, release = threading.Event(), threading.Event()
    real_complete = idempotency.complete

    def slow_complete(*args: Any, **kwargs: Any) -> None:
        inside.set()
        assert release.wait(10)
        real_complete(*args, **kwargs)

    monkeypatch.setattr("miniapp_api.lab.idempotency.complete", slow_complete)
    answers: dict[str, Any] = {}
    batch = [result(tube)]

    def send_first() -> None:
        answers["first"] = LabClient(app.test_client(), lab_client.key).upload(
            batch, idempotency_key="batch-5"
        )

    worker = threading.Thread(target=send_first)
    worker.start()
    try:
        assert inside.wait(10)
        answers["second"] = lab_client.upload(batch, idempotency_key="batch-5")
    finally:
        release.set()
        worker.join(10)

    assert answers["second"].status_code == 409
    assert answers["first"].status_code == 200
    assert answers["first"].get_json()["items"][0] == {
        "tube_no": tube,
        "status": "accepted",
        "people": 2,
    }
    monkeypatch.undo()
    third = lab_client.upload(batch, idempotency_key="batch-5")
    assert third.get_json() == answers["first"].get_json()


def test_keys_are_per_lab(app: Flask, lab_client: LabClient, desk: Desk) -> None:
    other = make_lab(app)
    other_client = LabClient(lab_client.client, other)
    mine = make_tube(app, desk, [])
    theirs = make_tube(app, make_desk(app, other), [])
    assert lab_client.upload([result(mine)], idempotency_key="same").status_code == 200
    response = other_client.upload([result(theirs)], idempotency_key="same")
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 1
