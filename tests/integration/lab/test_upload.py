"""Uploading tube results: per-item answers, final results kept, fan-out to people, pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from miniapp_api.lab.models import LabRequest
from miniapp_api.notify.payloads import payloads
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult
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


def items_of(response: Any) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.get_json()
    return {item["tube_no"]: item for item in response.get_json()["items"]}


def count(app: Flask, model: Any) -> int:
    with new_session(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def states(app: Flask) -> dict[int, str]:
    with new_session(app) as session:
        return dict(session.execute(select(PersonResult.resident_id, PersonResult.state)).all())


def test_a_batch_over_the_limit_is_refused_whole(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    limit = wiring_of(app).settings.lab.max_batch
    tube = make_tube(app, desk, [])
    response = lab_client.upload([result(f"X{i}") for i in range(limit)] + [result(tube)])
    assert response.status_code == 413
    assert response.get_json()["code"] == "batch_too_large"
    assert count(app, TubeResult) == 0
    assert count(app, LabRequest) == 0


def test_a_body_over_the_byte_limit_is_refused_unread(app: Flask, lab_client: LabClient) -> None:
    padded = b'{"results": [' + b" " * (600 * wiring_of(app).settings.lab.max_batch) + b"]}"
    response = lab_client.send("/api/v1/lab/results", padded, idempotency_key="big")
    assert response.status_code == 413
    assert response.get_json()["code"] == "batch_too_large"


def test_unknown_open_and_other_labs_tubes_are_reported_per_item(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    good = make_tube(app, desk, make_residents(app, 2))
    still_open = make_tube(app, desk, make_residents(app, 1), closed=False)
    other_lab = make_lab(app)
    theirs = make_tube(app, make_desk(app, other_lab), make_residents(app, 1))

    items = items_of(
        lab_client.upload([result(good), result("NOSUCHTUBE"), result(still_open), result(theirs)])
    )

    assert items[good] == {"tube_no": good, "status": "accepted", "people": 2}
    assert items["NOSUCHTUBE"]["status"] == "unknown_tube"
    assert items[still_open]["status"] == "tube_open"
    assert items[theirs] == {"tube_no": theirs, "status": "unknown_tube"}  # like unknown
    assert count(app, TubeResult) == 1


def test_a_final_result_is_not_overwritten_by_a_later_upload(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, make_residents(app, 3))
    first = lab_client.upload([result(tube, "negative")])
    second = lab_client.upload([result(tube, "positive")])

    assert items_of(first)[tube]["status"] == "accepted"
    assert items_of(second)[tube] == {
        "tube_no": tube,
        "status": "already_final",
        "current_result": "negative",
    }
    assert set(states(app).values()) == {"negative"}
    assert second.get_json()["accepted"] == 0


def test_a_result_tested_in_the_future_is_refused_per_item(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    later, now = make_tube(app, desk, []), make_tube(app, desk, [])
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    items = items_of(lab_client.upload([result(later, tested_at=ahead), result(now)]))
    assert items[later]["status"] == "tested_in_future"
    assert items[now]["status"] == "accepted"


def test_a_tube_twice_in_one_batch_is_stored_once(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    tube = make_tube(app, desk, make_residents(app, 1))
    response = lab_client.upload([result(tube, "negative"), result(tube, "positive")])
    assert [i["status"] for i in response.get_json()["items"]] == [
        "accepted",
        "duplicate_in_batch",
    ]
    assert list(states(app).values()) == ["negative"]


def test_an_unknown_result_value_is_a_validation_error(
    lab_client: LabClient, app: Flask, desk: Desk
) -> None:
    tube = make_tube(app, desk, [])
    response = lab_client.upload([{"tube_no": tube, "result": "maybe", "tested_at": iso_ago()}])
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("capacity", "outcome", "expected"),
    [
        (1, "positive", "positive"),
        (10, "positive", "retest_required"),
        (10, "negative", "negative"),
        (10, "invalid", "invalid"),
        (1, "invalid", "invalid"),
    ],
)
def test_the_tube_result_fans_out_to_each_person_in_the_tube(
    app: Flask, lab_client: LabClient, desk: Desk, capacity: int, outcome: str, expected: str
) -> None:
    people = make_residents(app, min(capacity, 4))
    tube = make_tube(app, desk, people, capacity=capacity)
    items_of(lab_client.upload([result(tube, outcome)]))

    assert states(app) == {p.id: expected for p in people}
    read = wiring_of(app).readmodel.read([p.public_id for p in people])
    assert {entries[0].state for entries in read.values()} == {expected}


def test_results_are_pushed_to_every_account_holding_each_person(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    mother, child = make_residents(app, 2)
    mum = make_account(app, [(mother, Relation.SELF), (child, Relation.DEPENDENT)])
    kid = make_account(app, [(child, Relation.SELF)], platform="alipay")
    # Sampled at 09:00 and tested at 10:30 Beijing time: a result is never tested before.
    sampled = datetime(2022, 3, 16, 1, 0, tzinfo=UTC)
    tube = make_tube(app, desk, [mother, child], scanned_at=sampled)

    items_of(lab_client.upload([result(tube, "negative", tested_at="2022-03-16T10:30:00+08:00")]))

    with new_session(app) as session:
        messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        pr_ids = dict(session.execute(select(PersonResult.resident_id, PersonResult.id)).all())
        built = payloads(session, [m.id for m in messages])
    assert sorted((m.account_id, built[m.id]["resident_id"]) for m in messages) == sorted(
        [(mum.id, mother.public_id), (mum.id, child.public_id), (kid.id, child.public_id)]
    )
    to_kid = next(m for m in messages if m.account_id == kid.id)
    assert to_kid.status == "pending"
    assert (to_kid.person_result_id, to_kid.version) == (pr_ids[child.id], 0)
    assert built[to_kid.id] == {
        "kind": "result",
        "platform": "alipay",
        "recipient": kid.subject,
        "resident_id": child.public_id,
        "resident_name_masked": child.name_masked,
        "state": "negative",
        "tested_at": "2022-03-16T02:30:00+00:00",
        "tube_no": tube,
        "round": desk.round_name,
        "site": desk.site_name,
        "version": 0,
    }


def test_a_failed_transaction_leaves_no_results_and_no_messages(
    app: Flask, lab_client: LabClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_residents(app, 1)
    make_account(app, [(person[0], Relation.SELF)])
    tube = make_tube(app, desk, person)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("database went away before the commit")

    # The last step inside the transaction: results and outbox rows are written by then.
    monkeypatch.setattr("miniapp_api.lab.idempotency.complete", fail)
    failed = lab_client.upload([result(tube)], idempotency_key="batch-7")
    assert failed.status_code == 500
    assert [count(app, m) for m in (TubeResult, PersonResult, OutboxMessage, LabRequest)] == [
        0,
        0,
        0,
        0,
    ]

    monkeypatch.undo()
    retried = lab_client.upload([result(tube)], idempotency_key="batch-7")
    assert items_of(retried)[tube]["status"] == "accepted"
    assert count(app, OutboxMessage) == 1
