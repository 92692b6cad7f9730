"""Which residents an account holds (``residents/holdings.py``): read from the database once,
then from their copy in Redis, which every change of the links forgets."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from miniapp_api.residents import holdings
from miniapp_api.residents.models import AccountResident, Relation
from miniapp_api.wiring import wiring_of
from tests.support.clients import results_shown
from tests.support.factories import bearer, committed, make_account, make_residents, new_session


def test_a_removed_dependent_disappears_once_the_links_are_forgotten(
    app: Flask, client: FlaskClient
) -> None:
    me, child = make_residents(app, 2)
    account = make_account(app, [(me, Relation.SELF), (child, Relation.DEPENDENT)])
    headers = bearer(app, account)
    assert len(results_shown(client, headers)) == 2
    with committed(app) as session:
        session.execute(delete(AccountResident).where(AccountResident.resident_id == child.id))

    holdings.forget_links(wiring_of(app).redis, [account.public_id])

    assert [r["id"] for r in results_shown(client, headers)] == [me.public_id]


def test_links_read_before_a_change_are_not_cached_after_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = make_residents(app, 1)[0]
    account = make_account(app, [(me, Relation.SELF)])
    redis_client = wiring_of(app).redis
    read_links = holdings._holdings_from_database

    def read_then_change(session: Any, account_id: str) -> list[holdings.Holding]:
        found = read_links(session, account_id)
        holdings.forget_links(redis_client, [account_id])  # a change commits meanwhile
        return found

    monkeypatch.setattr(holdings, "_holdings_from_database", read_then_change)
    with new_session(app) as session:
        holdings.holdings(session, redis_client, account.public_id)

    assert redis_client.get(f"links:{{{account.public_id}}}") is None
    monkeypatch.undo()
    with new_session(app) as session:
        holdings.holdings(session, redis_client, account.public_id)
    assert redis_client.get(f"links:{{{account.public_id}}}") is not None
