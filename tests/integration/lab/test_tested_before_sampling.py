"""A result tested before its tube was sampled (security review, issue 12 finding 7) is refused:
per item in an upload (``tested_before_sampling``), as a 422 on the amend call. The bound is the
tube's last scan: the pooled tube is tested once, after every swab went in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from miniapp_api.codes.service import CODE_ID_BYTES
from miniapp_api.residents.models import Relation, Resident
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult, TubeResultAmendment
from miniapp_api.sampling.models import Sampling, Tube
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, iso_ago, result
from tests.support.factories import (
    Desk,
    ago,
    committed,
    make_account,
    make_desk,
    make_lab,
    make_residents,
    make_tube,
    new_session,
)


def statuses(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["status"] for item in response.get_json()["items"]]


def count(app: Flask, model: type[Any], *where: Any) -> int:
    with new_session(app) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def tube_id(app: Flask, tube_no: str) -> int:
    with new_session(app) as session:
        return session.scalars(select(Tube.id).where(Tube.tube_no == tube_no)).one()


def sample_later(app: Flask, desk: Desk, tube_no: str, person: Resident, at: datetime) -> None:
    """One more swab into ``tube_no``, scanned at ``at`` (a tube fills over a few minutes)."""
    with committed(app) as session:
        tube = session.scalars(select(Tube).where(Tube.tube_no == tube_no)).one()
        tube.bound_count += 1
        session.add(
            Sampling(
                round_id=desk.round_id,
                resident_id=person.id,
                tube_id=tube.id,
                site_id=desk.site_id,
                staff_id=desk.staff_id,
                code_id=secrets.token_urlsafe(CODE_ID_BYTES),
                scanned_at=at,
            )
        )


def test_a_result_tested_before_its_tube_was_sampled_is_refused_per_item(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    early, bad_people, late = make_residents(app, 1), make_residents(app, 2), make_residents(app, 1)
    account = make_account(app, [(bad_people[0], Relation.SELF)])
    good = make_tube(app, desk, early)  # sampled three hours ago
    sampled_an_hour_ago = make_tube(app, desk, bad_people, scanned_at=ago(hours=1))
    other = make_tube(app, desk, late)

    # Before the fix: accepted, and two people were told a result of a test run before
    # their swabs were in the tube.
    response = lab_client.upload(
        [
            result(good, "negative", tested_at=iso_ago(90)),
            result(sampled_an_hour_ago, "positive", tested_at=iso_ago(90)),
            result(other, "negative"),
        ]
    )

    assert statuses(response) == ["accepted", "tested_before_sampling", "accepted"]
    assert (response.get_json()["accepted"], response.get_json()["rejected"]) == (2, 1)
    refused = tube_id(app, sampled_an_hour_ago)
    assert count(app, TubeResult, TubeResult.tube_id == refused) == 0
    assert count(app, PersonResult, PersonResult.tube_id == refused) == 0
    assert count(app, OutboxMessage, OutboxMessage.account_id == account.id) == 0
    assert count(app, PersonResult) == 2
    read = wiring_of(app).readmodel.read([p.public_id for p in bad_people])
    assert {entries[0].state for entries in read.values()} == {"pending"}

    # Nothing was kept for it: a result tested after the sampling is the first one.
    assert statuses(lab_client.upload([result(sampled_an_hour_ago, "negative")])) == ["accepted"]
    assert count(app, PersonResult, PersonResult.tube_id == refused) == 2


def test_the_bound_is_the_last_sample_of_the_tube(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    first, last = make_residents(app, 2)
    tube = make_tube(app, desk, [first], scanned_at=ago(hours=2))
    sample_later(app, desk, tube, last, ago(hours=1))

    between = lab_client.upload([result(tube, tested_at=iso_ago(90))])
    after = lab_client.upload([result(tube, tested_at=iso_ago(30))])

    assert statuses(between) == ["tested_before_sampling"]
    assert statuses(after) == ["accepted"]
    assert after.get_json()["items"][0]["people"] == 2


def test_a_result_stamped_exactly_when_the_last_sample_was_scanned_is_accepted(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    sampled = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    tube = make_tube(app, desk, make_residents(app, 1), scanned_at=sampled)
    response = lab_client.upload([result(tube, tested_at=sampled.isoformat())])
    assert statuses(response) == ["accepted"]


def test_a_tube_without_samples_is_not_held_to_a_sampling_time(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    empty = make_tube(app, desk, [])
    response = lab_client.upload([result(empty, tested_at="2022-03-16T10:30:00+08:00")])
    assert statuses(response) == ["accepted"]


def test_an_amendment_tested_before_sampling_is_refused_and_changes_nothing(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    people = make_residents(app, 2)
    account = make_account(app, [(people[0], Relation.SELF)])
    tube = make_tube(app, desk, people)  # sampled three hours ago
    assert statuses(lab_client.upload([result(tube, "negative")])) == ["accepted"]

    response = lab_client.amend(tube, "positive", tested_at=iso_ago(4 * 60))

    assert response.status_code == 422
    assert response.get_json()["code"] == "tested_before_sampling"
    with new_session(app) as session:
        assert session.scalar(select(TubeResult.result)) == "negative"
        assert set(session.scalars(select(PersonResult.state))) == {"negative"}
    assert count(app, TubeResultAmendment) == 0
    assert count(app, OutboxMessage, OutboxMessage.account_id == account.id) == 1
    assert lab_client.amend(tube, "positive", tested_at=iso_ago(10)).status_code == 200


def test_the_rule_holds_on_sqlite_too(embedded_app: Flask) -> None:
    lab = make_lab(embedded_app)
    desk = make_desk(embedded_app, lab)
    tube = make_tube(embedded_app, desk, make_residents(embedded_app, 1), scanned_at=ago(hours=1))
    client = LabClient(embedded_app.test_client(), lab)

    early = client.upload([result(tube, tested_at=iso_ago(90))])
    later = client.upload([result(tube, tested_at=iso_ago(30))])
    refused = client.amend(tube, "positive", tested_at=iso_ago(120))

    assert statuses(early) == ["tested_before_sampling"]
    assert statuses(later) == ["accepted"]
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "tested_before_sampling"


def test_the_openapi_document_lists_the_tested_before_sampling_status(
    client: FlaskClient,
) -> None:
    doc = client.get("/openapi.json").get_json()
    status = doc["components"]["schemas"]["ItemOut"]["properties"]["status"]
    assert "tested_before_sampling" in status["enum"]
    amend_tested_at = doc["components"]["schemas"]["AmendIn"]["properties"]["tested_at"]
    assert "before the tube's last sample" in amend_tested_at["description"]
