"""``GET /api/v1/results/history`` in pages: ``?limit=`` and the opaque ``next_cursor``."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.residents.models import Relation, Resident
from miniapp_api.results.schemas import MAX_HISTORY_PAGE
from tests.support.factories import (
    Desk,
    ago,
    bearer,
    make_account,
    make_desk,
    make_residents,
    make_tube,
)

HISTORY = "/api/v1/results/history"


def family_history(
    app: Flask, desk: Desk
) -> tuple[dict[str, str], list[tuple[str, str]], Resident]:
    """Self with four samplings, a dependent with two and one with none; the session headers,
    every (resident id, tube) in the history's order (self first, each newest first), self."""
    me, child, baby = make_residents(app, 3)
    account = make_account(
        app, [(me, Relation.SELF), (child, Relation.DEPENDENT), (baby, Relation.DEPENDENT)]
    )
    tubes = {hours: sampled(app, desk, [me], hours) for hours in (5, 3, 1)}
    both = sampled(app, desk, [me, child], 8)
    only_child = sampled(app, desk, [child], 2)
    order = [
        (me.public_id, tubes[1]),
        (me.public_id, tubes[3]),
        (me.public_id, tubes[5]),
        (me.public_id, both),
        (child.public_id, only_child),
        (child.public_id, both),
    ]
    return bearer(app, account), order, me


def sampled(app: Flask, desk: Desk, people: list[Resident], hours: float) -> str:
    """A tube of ``people`` sampled ``hours`` ago, in a round of its own (one a person)."""
    return make_tube(app, make_desk(app, desk.lab), people, scanned_at=ago(hours=hours))


def page(client: FlaskClient, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = client.get(HISTORY, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def samplings(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["id"], s["tube_no"]) for r in body["residents"] for s in r["samplings"]]


def test_without_a_limit_the_whole_history_is_one_page(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    headers, order, _ = family_history(app, desk)

    body = page(client, headers)

    assert samplings(body) == order
    assert body["next_cursor"] is None
    assert len(body["residents"]) == 3
    assert body["residents"][2]["samplings"] == []


def test_pages_follow_the_cursor_through_every_sampling_once(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    headers, order, _ = family_history(app, desk)
    seen: list[tuple[str, str]] = []
    pages = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 4} if cursor is None else {"limit": 4, "cursor": cursor}
        body = page(client, headers, **query)
        pages.append(body)
        seen += samplings(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == order
    assert [len(samplings(p)) for p in pages] == [4, 2]
    # Every page names every resident, with its samplings on that page (maybe none).
    assert all(
        [r["relation"] for r in p["residents"]] == ["self", "dependent", "dependent"] for p in pages
    )


def test_a_page_that_ends_exactly_at_the_end_has_no_next_cursor(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    headers, order, _ = family_history(app, desk)

    body = page(client, headers, limit=len(order))

    assert samplings(body) == order
    assert body["next_cursor"] is None


def test_a_result_arriving_between_pages_shifts_nothing(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    headers, order, me = family_history(app, desk)
    first = page(client, headers, limit=2)
    sampled(app, desk, [me], 0.1)  # the newest: before the cursor

    rest = page(client, headers, cursor=first["next_cursor"])

    assert samplings(first) + samplings(rest) == order


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": str(MAX_HISTORY_PAGE + 1)}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"cursor": "cl9ub2JvZHl8MXxU"}, "cursor"),  # base64url, but of nobody held here
        ({"cursor": ""}, "cursor"),
    ],
)
def test_a_bad_limit_or_cursor_is_422_naming_it(
    app: Flask, client: FlaskClient, desk: Desk, query: dict[str, str], field: str
) -> None:
    headers, _, _ = family_history(app, desk)

    response = client.get(HISTORY, headers=headers, query_string=query)

    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert [problem["field"] for problem in body["detail"]] == [field]
