"""``POST /api/v1/me/sessions/revoke``: a resident who lost a phone ends every session of the
account at once; other accounts' sessions are untouched. The gate's script and the views' own
session lookup (admission off) both refuse the ended sessions."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.residents.models import Relation
from miniapp_api.wiring import wiring_of
from tests.support.apps import MakeApp
from tests.support.factories import bearer, make_account, make_residents


def test_log_out_everywhere_ends_every_session_of_the_account_only(
    app: Flask, client: FlaskClient
) -> None:
    me, neighbour = make_residents(app, 2)
    account = make_account(app, [(me, Relation.SELF)])
    lost_phone, tablet, here = (bearer(app, account) for _ in range(3))
    other = bearer(app, make_account(app, [(neighbour, Relation.SELF)]))
    for headers in (lost_phone, tablet, here, other):
        assert client.get("/api/v1/results", headers=headers).status_code == 200

    response = client.post("/api/v1/me/sessions/revoke", headers=here)

    assert response.status_code == 204
    for headers in (lost_phone, tablet, here):
        assert client.get("/api/v1/results", headers=headers).status_code == 401
        assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/results", headers=other).status_code == 200


def test_a_session_made_after_it_works(app: Flask, client: FlaskClient) -> None:
    account = make_account(app, [(make_residents(app, 1)[0], Relation.SELF)])
    assert (
        client.post("/api/v1/me/sessions/revoke", headers=bearer(app, account)).status_code == 204
    )

    again = bearer(app, account)

    assert client.get("/api/v1/me", headers=again).status_code == 200


def test_it_needs_a_session(client: FlaskClient) -> None:
    assert client.post("/api/v1/me/sessions/revoke").status_code == 401


def test_with_admission_off_the_views_refuse_the_ended_sessions_too(
    make_app: MakeApp,
) -> None:
    # Without the gate's script, the session is read by the view's own lookup.
    app = make_app(ENABLED=False)
    client = app.test_client()
    account = make_account(app, [(make_residents(app, 1)[0], Relation.SELF)])
    old, here = bearer(app, account), bearer(app, account)

    assert client.post("/api/v1/me/sessions/revoke", headers=here).status_code == 204

    assert client.get("/api/v1/me", headers=old).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(app, account)).status_code == 200


def test_accounts_that_never_log_out_everywhere_keep_no_epoch(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(app, [(make_residents(app, 1)[0], Relation.SELF)])
    headers = bearer(app, account)
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    sessions = wiring_of(app).sessions
    assert not wiring_of(app).redis.exists(sessions.epoch_key(account.public_id))
