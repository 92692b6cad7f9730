"""``GET /api/v1/results``: self and dependents, from the read model, never writing the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.residents.models import Account, Relation
from miniapp_api.results import service
from miniapp_api.settings import ResultSettings
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result, results_shown
from tests.support.factories import (
    Desk,
    bearer,
    make_account,
    make_desk,
    make_residents,
    make_tube,
    new_session,
)


def test_the_lookup_shows_self_and_each_dependent(
    app: Flask, client: FlaskClient, lab_client: LabClient, desk: Desk
) -> None:
    me, child, grandma = make_residents(app, 3)
    account = make_account(
        app, [(child, Relation.DEPENDENT), (me, Relation.SELF), (grandma, Relation.DEPENDENT)]
    )
    earlier = datetime.now(UTC) - timedelta(days=2)
    old_tube = make_tube(app, make_desk(app, desk.lab), [me], scanned_at=earlier)
    pooled = make_tube(app, desk, [me, child])
    lab_client.upload([result(old_tube, "negative"), result(pooled, "positive")])

    shown = results_shown(client, bearer(app, account))

    assert [(r["id"], r["relation"]) for r in shown] == [
        (me.public_id, "self"),
        (child.public_id, "dependent"),
        (grandma.public_id, "dependent"),
    ]
    mine = shown[0]
    assert mine["name_masked"] == me.name_masked
    assert (mine["latest"]["state"], mine["latest"]["tube_no"]) == ("retest_required", pooled)
    assert mine["latest"]["guidance"]
    assert mine["latest"]["round"] == desk.round_name
    assert mine["latest"]["site"] == desk.site_name
    assert [(h["state"], h["tube_no"]) for h in mine["history"]] == [("negative", old_tube)]
    assert shown[1]["latest"]["state"] == "retest_required"
    assert shown[2]["latest"] is None
    assert shown[2]["history"] == []


def test_a_result_pending_over_48_hours_is_flagged_with_guidance(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    late, recent = make_residents(app, 2)
    account = make_account(app, [(late, Relation.SELF), (recent, Relation.DEPENDENT)])
    make_tube(app, desk, [late], scanned_at=datetime.now(UTC) - timedelta(hours=49))
    make_tube(app, desk, [recent], scanned_at=datetime.now(UTC) - timedelta(hours=47))

    shown = results_shown(client, bearer(app, account))

    assert (shown[0]["latest"]["state"], shown[0]["latest"]["overdue"]) == ("pending", True)
    assert desk.site_name in shown[0]["latest"]["guidance"]
    assert shown[0]["latest"]["tested_at"] is None
    assert (shown[1]["latest"]["overdue"], shown[1]["latest"]["guidance"]) == (False, None)


def test_overdue_is_judged_by_the_clock_the_service_is_given(app: Flask, desk: Desk) -> None:
    person = make_residents(app, 1)[0]
    account = make_account(app, [(person, Relation.SELF)])
    sampled = datetime(2022, 3, 16, 8, 0, tzinfo=UTC)
    make_tube(app, desk, [person], scanned_at=sampled)
    wire = wiring_of(app)

    def overdue_at(now: datetime) -> bool:
        with new_session(app) as session:
            out = service.account_results(
                session,
                account.public_id,
                client=wire.redis,
                readmodel=wire.readmodel,
                settings=ResultSettings(48),
                now=now,
            )
        latest = out.residents[0].latest
        assert latest is not None
        return latest.overdue

    assert not overdue_at(sampled + timedelta(hours=47, minutes=59))
    assert overdue_at(sampled + timedelta(hours=48, minutes=1))


def test_a_lookup_never_writes_to_the_database(
    app: Flask, client: FlaskClient, desk: Desk, statements: list[str]
) -> None:
    person = make_residents(app, 1)[0]
    account = make_account(app, [(person, Relation.SELF)])
    make_tube(app, desk, [person])
    headers = bearer(app, account)
    statements.clear()

    results_shown(client, headers)
    assert statements, "the first lookup reads the account's residents"
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements

    statements.clear()
    results_shown(client, headers)
    assert statements == [], "later lookups read the links cached in Redis"


def test_another_account_cannot_see_a_residents_results(
    app: Flask, client: FlaskClient, lab_client: LabClient, desk: Desk
) -> None:
    person, stranger = make_residents(app, 2)
    make_account(app, [(person, Relation.SELF)])
    other = make_account(app, [(stranger, Relation.SELF)])
    tube = make_tube(app, desk, [person])
    lab_client.upload([result(tube, "positive")])

    shown = results_shown(client, bearer(app, other))

    assert [r["id"] for r in shown] == [stranger.public_id]
    assert shown[0]["latest"] is None


def test_the_lookup_needs_a_session(client: FlaskClient) -> None:
    assert client.get("/api/v1/results").status_code == 401


def test_a_session_of_a_deleted_account_is_refused(app: Flask, client: FlaskClient) -> None:
    ghost = Account(public_id="a_gone", platform="wechat")
    assert client.get("/api/v1/results", headers=bearer(app, ghost)).status_code == 401


def test_an_unreadable_read_model_answers_503_not_500(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    [me] = make_residents(app, 1)
    account = make_account(app, [(me, Relation.SELF)])
    tube = make_tube(app, desk, [me])
    wiring_of(app).redis.hset(f"results:{{{me.public_id}}}", tube, "not-an-entry")

    response = client.get("/api/v1/results", headers=bearer(app, account))

    assert response.status_code == 503
    assert response.get_json()["code"] == "results_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
