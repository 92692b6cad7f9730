"""The hot screens kept per account (``miniapp_api/accountview.py``) and the account-bearing
session tokens that let the admission gate read them in its one round trip.

What must hold: a kept screen costs one Redis round trip and no database; every change that
alters a screen shows at once (a result, a scan, a re-issue by another holder, a removed
dependent); a token never opens, charges or reveals another account; logout ends it; tokens of
the old format keep working.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient

from miniapp_api.accountview import (
    RESULTS_SCREEN,
    AccountViews,
    ViewSnapshot,
    encode,
    forget,
    generation_key,
    view_key,
)
from miniapp_api.admission.prefetch import quota_key
from miniapp_api.codes import qr
from miniapp_api.readmodel import ResultEntry
from miniapp_api.residents.models import Account, Relation, Resident
from miniapp_api.sessions import account_hint
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, StaffClient, result, scan_item
from tests.support.factories import (
    Desk,
    bearer,
    make_account,
    make_desk,
    make_lab,
    make_person,
    make_residents,
    make_round,
    make_site,
    make_staff,
    make_tube,
    new_tube_no,
)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts what the app sends to Redis: one ``send_packed_command`` per round trip (a
    pipeline packs all its commands into one)."""
    sent = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


def costs(client: FlaskClient, url: str, headers: dict[str, str], sent: list[int]) -> int:
    before = sent[0]
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return sent[0] - before


def family(app: Flask) -> tuple[Account, Resident, Resident, dict[str, str]]:
    me, child = make_residents(app, 2)
    account = make_account(app, [(me, Relation.SELF), (child, Relation.DEPENDENT)])
    return account, me, child, bearer(app, account)


def shown(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/results", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {r["id"]: r for r in response.get_json()["residents"]}


def code_of(client: FlaskClient, headers: dict[str, str], resident_id: str) -> str:
    response = client.get(f"/api/v1/residents/{resident_id}/code", headers=headers)
    assert response.status_code == 200, response.get_json()
    code_id: str = response.get_json()["code_id"]
    return code_id


# --- one round trip ------------------------------------------------------------------------


def test_kept_screens_cost_one_redis_round_trip_and_no_database(
    app: Flask,
    client: FlaskClient,
    desk: Desk,
    statements: list[str],
    round_trips: list[int],
) -> None:
    _, me, child, headers = family(app)
    make_tube(app, desk, [me, child])
    screens = [
        "/api/v1/results",
        f"/api/v1/residents/{me.public_id}/code",
        f"/api/v1/residents/{child.public_id}/code.png",
        f"/api/v1/residents/{child.public_id}/code.svg",
    ]
    first = [costs(client, url, headers, round_trips) for url in screens]
    statements.clear()

    again = [costs(client, url, headers, round_trips) for url in screens]

    assert again == [1, 1, 1, 1]
    assert statements == []
    assert all(n > 1 for n in first), first  # built once: the cost that keeping saves


def test_a_kept_screen_is_answered_before_flask_as_the_view_would(
    app: Flask,
    client: FlaskClient,
    desk: Desk,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, me, _, headers = family(app)
    make_tube(app, desk, [me])
    reached_flask: list[str] = []

    def counted(endpoint: str) -> Callable[..., Any]:
        view = app.view_functions[endpoint]

        def calling(**arguments: Any) -> Any:
            reached_flask.append(request.path)
            return view(**arguments)

        return calling

    for endpoint, url in (
        ("results.get_results", "/api/v1/results"),
        ("codes.get_code", f"/api/v1/residents/{me.public_id}/code"),
        ("codes.get_code_png", f"/api/v1/residents/{me.public_id}/code.png"),
        ("codes.get_code_svg", f"/api/v1/residents/{me.public_id}/code.svg"),
    ):
        monkeypatch.setitem(app.view_functions, endpoint, counted(endpoint))
        reached_flask.clear()
        built = client.get(url, headers=headers)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="miniapp_api.access"):
            kept = client.get(url, headers={**headers, "X-Request-ID": "kept-0001"})

        assert reached_flask == [url], "the view built it once; the gate sent it then"
        assert kept.status_code == built.status_code == 200
        assert kept.get_data() == built.get_data()
        assert dict(kept.headers) == {**dict(built.headers), "X-Request-ID": "kept-0001"}
        assert built.headers["Cache-Control"] == "private, no-store"
        access = [r for r in caplog.records if r.name == "miniapp_api.access"]
        assert [(r.getMessage(), getattr(r, "request_id", None)) for r in access] == [
            (f"GET {url} 200", "kept-0001")
        ]


# --- every change shows at once --------------------------------------------------------------


@pytest.mark.parametrize("where", ["postgresql", "embedded"])
def test_a_result_shows_at_once_for_every_holder(
    request: pytest.FixtureRequest, where: str
) -> None:
    # The kept screens are dropped through the read model's watchers: on Redis and on the
    # embedded default's stand-in (its Lua).
    app: Flask = request.getfixturevalue("app" if where == "postgresql" else "embedded_app")
    client = app.test_client()
    lab = make_lab(app)
    desk, lab_client = make_desk(app, lab), LabClient(client, lab)
    me, mother = make_residents(app, 2)
    mine = bearer(app, make_account(app, [(me, Relation.SELF)]))
    hers = bearer(app, make_account(app, [(mother, Relation.SELF), (me, Relation.DEPENDENT)]))
    tube = make_tube(app, desk, [me])
    assert shown(client, mine)[me.public_id]["latest"]["state"] == "pending"
    assert shown(client, hers)[me.public_id]["latest"]["state"] == "pending"

    lab_client.upload([result(tube, "negative")])

    assert shown(client, mine)[me.public_id]["latest"]["state"] == "negative"
    assert shown(client, hers)[me.public_id]["latest"]["state"] == "negative"


def test_a_scan_shows_as_pending_at_once(app: Flask, client: FlaskClient) -> None:
    person = make_person(app)
    headers = bearer(app, make_account(app, [(person.resident, Relation.SELF)]))
    assert shown(client, headers)[person.resident.public_id]["latest"] is None
    site = make_site(app)
    make_round(app)
    staff = StaffClient(app.test_client(), make_staff(app, site).username)
    assert staff.login().status_code == 200

    answers = staff.scan_answers(scan_item(person.token, new_tube_no()))

    assert answers[0]["status"] == "bound", answers
    latest = shown(client, headers)[person.resident.public_id]["latest"]
    assert latest["state"] == "pending"


def test_a_reissue_by_one_holder_voids_the_code_kept_for_the_other(
    app: Flask, client: FlaskClient
) -> None:
    child = make_residents(app, 1)[0]
    father = bearer(app, make_account(app, [(child, Relation.DEPENDENT)]))
    mother = bearer(app, make_account(app, [(child, Relation.DEPENDENT)]))
    before = code_of(client, mother, child.public_id)
    assert code_of(client, father, child.public_id) == before

    response = client.post(f"/api/v1/residents/{child.public_id}/code", headers=father)
    assert response.status_code == 201

    assert code_of(client, mother, child.public_id) == response.get_json()["code_id"] != before


def test_a_removed_dependent_leaves_the_kept_screens(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    _, me, child, headers = family(app)
    make_tube(app, desk, [child])
    assert set(shown(client, headers)) == {me.public_id, child.public_id}
    code_of(client, headers, child.public_id)

    removed = client.delete(f"/api/v1/me/dependents/{child.public_id}", headers=headers)
    assert removed.status_code in (200, 204), removed.get_json()

    assert set(shown(client, headers)) == {me.public_id}
    gone = client.get(f"/api/v1/residents/{child.public_id}/code.png", headers=headers)
    assert gone.status_code == 404


def test_a_change_during_the_first_fill_of_a_view_keeps_the_fill_out(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, headers = family(app)
    account_id = account_hint(headers["Authorization"].removeprefix("Bearer "))
    client_redis = wiring_of(app).redis
    assert not client_redis.exists(generation_key(account_id), view_key(account_id))
    fill = AccountViews.fill

    def change_then_fill(self: AccountViews, seen: ViewSnapshot, values: Any) -> None:
        # A result is published for the account between the read and the fill.
        forget(client_redis, [account_id], (RESULTS_SCREEN.field,))
        fill(self, seen, values)

    monkeypatch.setattr(AccountViews, "fill", change_then_fill)
    shown(client, headers)
    assert client_redis.hget(view_key(account_id), RESULTS_SCREEN.field) is None

    monkeypatch.undo()
    shown(client, headers)
    assert client_redis.hget(view_key(account_id), RESULTS_SCREEN.field) is not None


def test_a_result_written_while_the_screen_is_built_is_not_hidden_by_it(
    app: Flask, client: FlaskClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The screen is built from what was read before the result: it must not be kept.
    _, me, _, headers = family(app)
    make_tube(app, desk, [me], scanned_at=datetime.now(UTC) - timedelta(hours=1))
    readmodel = wiring_of(app).readmodel
    later = ResultEntry(
        "T-later", "round", "site", datetime.now(UTC), "negative", datetime.now(UTC)
    )
    fill = AccountViews.fill

    def result_then_fill(self: AccountViews, seen: ViewSnapshot, values: Any) -> None:
        readmodel.record([(me.public_id, later)])
        fill(self, seen, values)

    monkeypatch.setattr(AccountViews, "fill", result_then_fill)
    assert shown(client, headers)[me.public_id]["latest"]["tube_no"] != "T-later"
    monkeypatch.undo()

    assert shown(client, headers)[me.public_id]["latest"]["tube_no"] == "T-later"


def test_a_fill_is_refused_once_the_generation_it_read_has_expired(app: Flask) -> None:
    client_redis = wiring_of(app).redis
    views = AccountViews(client_redis)
    account_id = "a_generation_expires"
    client_redis.delete(generation_key(account_id), view_key(account_id))
    body = {"results": encode(b"{}", 2**40)}
    read = views.snapshot(account_id, ["results"])

    client_redis.delete(generation_key(account_id))  # expired while the fill was being built
    views.fill(read, body)
    assert not client_redis.exists(view_key(account_id))

    views.snapshot(account_id, ["results"])  # the next read makes a new one, not the same
    views.fill(read, body)
    assert not client_redis.exists(view_key(account_id))
    assert client_redis.get(generation_key(account_id)) != read.generation


def test_forgetting_accounts_nobody_reads_writes_nothing(
    app: Flask, client: FlaskClient, lab_client: LabClient, desk: Desk
) -> None:
    # A morning's results reach a million accounts, few of which are looking at that moment:
    # dropping their views must not leave a key behind for each of them.
    me, mother = make_residents(app, 2)
    reading, idle = (
        make_account(app, [(me, Relation.SELF)]),
        make_account(app, [(mother, Relation.SELF), (me, Relation.DEPENDENT)]),
    )
    shown(client, bearer(app, reading))
    tube = make_tube(app, desk, [me])
    client_redis = wiring_of(app).redis
    before = client_redis.get(generation_key(reading.public_id))
    assert before is not None

    lab_client.upload([result(tube, "negative")])

    assert client_redis.get(generation_key(reading.public_id)) != before
    assert not client_redis.exists(generation_key(idle.public_id), view_key(idle.public_id))
    forget(client_redis, [idle.public_id])
    assert not client_redis.exists(generation_key(idle.public_id), view_key(idle.public_id))


def test_a_kept_body_is_not_used_past_its_time_or_made_with_another_key() -> None:
    now = datetime(2022, 3, 16, 8, tzinfo=UTC)
    until = (now + timedelta(minutes=1)).timestamp()
    seen = ViewSnapshot("a_x", b"0", None, {"code:r_1": encode(b"{}", until, "k1")})

    assert seen.body("code:r_1", now.timestamp(), "k1") == b"{}"
    assert seen.body("code:r_1", until, "k1") is None
    assert seen.body("code:r_1", now.timestamp(), "k2") is None
    assert seen.body("code:r_2", now.timestamp(), "k1") is None


# --- the tokens ------------------------------------------------------------------------------


def test_a_token_names_its_account_but_only_the_session_vouches_for_it(
    app: Flask, client: FlaskClient
) -> None:
    victim, attacker = make_residents(app, 2)
    victim_account = make_account(app, [(victim, Relation.SELF)])
    mine = bearer(app, make_account(app, [(attacker, Relation.SELF)]))
    shown(client, bearer(app, victim_account))  # the victim's screen is kept in Redis
    token = mine["Authorization"].removeprefix("Bearer ")
    secret = token.partition(".")[2]
    assert account_hint(token) != victim_account.public_id
    client_redis = wiring_of(app).redis
    client_redis.delete(quota_key(victim_account.public_id))

    for forged in (f"{victim_account.public_id}.{secret}", f"{victim_account.public_id}.x"):
        response = client.get("/api/v1/results", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        assert victim.public_id not in response.get_data(as_text=True)

    # A forged token costs the account it names nothing: only a real session draws on its quota.
    assert client_redis.get(quota_key(victim_account.public_id)) is None
    assert client_redis.exists(view_key(victim_account.public_id))


def test_logout_ends_the_session_though_its_screens_are_still_kept(
    app: Flask, client: FlaskClient
) -> None:
    me = make_residents(app, 1)[0]
    account = make_account(app, [(me, Relation.SELF)])
    headers, other = bearer(app, account), bearer(app, account)
    shown(client, headers)

    assert client.post("/api/v1/auth/logout", headers=headers).status_code in (200, 204)

    assert client.get("/api/v1/results", headers=headers).status_code == 401
    assert client.get(f"/api/v1/residents/{me.public_id}/code", headers=headers).status_code == 401
    assert set(shown(client, other)) == {me.public_id}  # the account's other session goes on


def test_a_token_of_the_old_format_works_until_it_expires(app: Flask, client: FlaskClient) -> None:
    me = make_residents(app, 1)[0]
    account = make_account(app, [(me, Relation.SELF)])
    token = "old-format-token-with-no-account-in-front"
    digest = hashlib.sha256(token.encode()).hexdigest()
    key = f"session:{{{digest[:16]}}}:{digest[16:]}"
    wiring_of(app).redis.hset(key, mapping={"account": account.public_id, "platform": "wechat"})
    wiring_of(app).redis.expire(key, 60)
    headers = {"Authorization": f"Bearer {token}"}

    assert set(shown(client, headers)) == {me.public_id}
    assert code_of(client, headers, me.public_id)


def test_a_code_image_is_rendered_once_though_views_expire(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = make_residents(app, 1)[0]
    account = make_account(app, [(me, Relation.SELF)])
    headers = bearer(app, account)
    rendered: list[str] = []
    render = qr.png.__wrapped__  # past the worker's own cache: count real renderings
    monkeypatch.setattr(qr, "png", lambda token: rendered.append(token) or render(token))
    url = f"/api/v1/residents/{me.public_id}/code.png"

    first = client.get(url, headers=headers)
    wiring_of(app).redis.delete(view_key(account.public_id))  # the view's two minutes are up
    again = client.get(url, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data()
    assert len(rendered) == 1
