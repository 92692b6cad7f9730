"""The degraded modes an operator switches on: read-only, cache-only lookups, waiting room."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.residents.models import Relation
from tests.integration.ops.conftest import set_controls
from tests.support.factories import bearer, make_account, make_residents
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import logged_in
from tests.support.sql import recorded_statements


@pytest.fixture
def database_queries(ops_app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    with recorded_statements(ops_app) as seen:
        yield seen


# --- read-only --------------------------------------------------------------------------------


def test_read_only_refuses_writes_but_not_reads_or_login(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    resident = logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, read_only=True)

    refused = resident.declare("张三", cn_id())

    assert refused.status_code == 503
    body = refused.get_json()
    assert (body["code"], body["detail"]["reason"]) == ("read_only", "read_only")
    assert int(refused.headers["Retry-After"]) >= 1
    assert {a["kind"] for a in body["detail"]["alternatives"]} >= {"saved_code", "h5_lookup"}
    assert resident.me()["self"] is None  # nothing was written
    # Login is critical: it goes on (consenting is a write: it waits for the mode to end).
    assert logged_in(ops_app, phone, consent=False).token

    set_controls(ops_client, operator_auth, read_only=False)
    assert resident.declare("张三", cn_id()).status_code == 200


# --- cache-only lookups -----------------------------------------------------------------------


def test_cache_only_answers_lookups_from_redis_and_never_asks_the_database(
    ops_app: Flask,
    ops_client: FlaskClient,
    operator_auth: dict[str, str],
    database_queries: list[str],
) -> None:
    (me,) = make_residents(ops_app, 1)
    cached, uncached = (make_account(ops_app, [(me, Relation.SELF)]) for _ in range(2))
    headers = [bearer(ops_app, a) for a in (cached, uncached)]
    assert ops_client.get("/api/v1/results", headers=headers[0]).status_code == 200  # fills
    set_controls(ops_client, operator_auth, cache_only=True)
    database_queries.clear()

    served = ops_client.get("/api/v1/results", headers=headers[0])
    refused = ops_client.get("/api/v1/results", headers=headers[1])

    assert served.status_code == 200
    assert served.get_json()["residents"][0]["id"] == me.public_id
    assert refused.status_code == 503
    body = refused.get_json()
    assert (body["code"], body["detail"]["reason"]) == ("cache_only", "cache_only")
    assert int(refused.headers["Retry-After"]) >= 1
    assert {a["kind"] for a in body["detail"]["alternatives"]} >= {"saved_code", "push"}
    assert database_queries == []

    set_controls(ops_client, operator_auth, cache_only=False)
    assert ops_client.get("/api/v1/results", headers=headers[1]).status_code == 200
    assert database_queries  # the miss went to the database again


# --- the waiting room for profile writes ------------------------------------------------------


def queue_slot(ticket: str) -> float:
    """The ticket's slot (epoch seconds); its format is ``w1.<ms>.<mac>``."""
    return int(ticket.split(".")[1]) / 1000


def wait_for_slot(ticket: str) -> None:
    time.sleep(max(0.0, queue_slot(ticket) - time.time()) + 0.01)


def test_a_profile_write_waits_for_its_turn_and_then_goes_through(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    resident = logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, waiting_room_rate=1000.0)
    person = cn_id()

    queued = resident.declare("张三", person)

    assert queued.status_code == 503
    body = queued.get_json()
    detail = body["detail"]
    assert (body["code"], detail["reason"]) == ("waiting_room", "waiting_room")
    assert detail["ticket_status"] == "new"
    assert detail["position"] >= 1
    assert detail["estimated_wait"] >= 0
    assert int(queued.headers["Retry-After"]) >= max(1, detail["estimated_wait"])
    assert resident.me()["self"] is None

    wait_for_slot(detail["ticket"])
    served = resident.client.put(
        "/api/v1/me/profile",
        json={"name": "张三", "id_type": "cn_id", "id_number": person},
        headers={**resident.auth, "X-Queue-Ticket": detail["ticket"]},
    )

    assert served.status_code == 200, served.get_json()
    assert resident.me()["self"] is not None


def test_an_early_ticket_keeps_its_place_and_is_told_the_remaining_wait(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    resident = logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, waiting_room_rate=0.01)  # one write per 100 s
    ticket = resident.declare("张三", cn_id()).get_json()["detail"]["ticket"]

    early = resident.client.put(
        "/api/v1/me/profile",
        json={"name": "张三", "id_type": "cn_id", "id_number": cn_id()},
        headers={**resident.auth, "X-Queue-Ticket": ticket},
    )

    assert early.status_code == 503
    detail = early.get_json()["detail"]
    assert (detail["ticket_status"], detail["ticket"]) == ("early", ticket)
    assert 90 <= detail["estimated_wait"] <= 101
    assert int(early.headers["Retry-After"]) >= detail["estimated_wait"]


def test_forged_and_borrowed_tickets_are_refused_as_invalid(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    owner, other = logged_in(ops_app, phone), logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, waiting_room_rate=1000.0)
    ticket = owner.declare("张三", cn_id()).get_json()["detail"]["ticket"]
    version, millis, mac = ticket.split(".")
    wait_for_slot(ticket)
    forged = [
        f"{version}.{int(millis) - 60_000}.{mac}",  # an earlier slot, same MAC
        f"{version}.{millis}.{'A' * len(mac)}",
        "not-a-ticket",
    ]
    body = {"name": "李四", "id_type": "cn_id", "id_number": cn_id()}

    answers = [
        owner.client.put(
            "/api/v1/me/profile", json=body, headers={**owner.auth, "X-Queue-Ticket": t}
        )
        for t in forged
    ]
    borrowed = other.client.put(
        "/api/v1/me/profile", json=body, headers={**other.auth, "X-Queue-Ticket": ticket}
    )

    for answer in [*answers, borrowed]:
        assert answer.status_code == 503
        detail = answer.get_json()["detail"]
        assert detail["ticket_status"] == "invalid"
        assert detail["ticket"] != ticket  # a fresh place, at the back
    assert owner.me()["self"] is None
    assert other.me()["self"] is None


def test_places_are_handed_out_in_order_across_accounts_and_dependents_wait_too(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    first, second = logged_in(ops_app, phone), logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, waiting_room_rate=1.0)

    a = first.declare("张三", cn_id()).get_json()["detail"]
    b = second.add_dependent("李秀英", cn_id(birth="19500612"))
    assert b.status_code == 503
    b_detail = b.get_json()["detail"]

    assert queue_slot(b_detail["ticket"]) - queue_slot(a["ticket"]) == pytest.approx(1.0, abs=0.01)
    assert b_detail["position"] > a["position"]
    assert b_detail["estimated_wait"] >= a["estimated_wait"]


def test_with_the_waiting_room_closed_no_ticket_is_needed(
    ops_app: Flask, ops_client: FlaskClient, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    resident = logged_in(ops_app, phone)
    set_controls(ops_client, operator_auth, waiting_room_rate=1000.0)
    set_controls(ops_client, operator_auth, waiting_room_rate=0.0)

    assert resident.declare("张三", cn_id()).status_code == 200
