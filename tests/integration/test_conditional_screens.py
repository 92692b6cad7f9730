"""Cheap refreshes of the hot screens: ``ETag`` and ``If-None-Match`` on the results and code
screens (``miniapp_api/accountview.py``), at the admission gate and in Flask alike.

What must hold: a client that holds the screen gets a 304 with no body, and the same
``ETag``, ``Cache-Control`` and an ``X-Request-ID``; a new result or a re-issued code changes
the tag; the tag names the bytes, so it outlives the kept copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from miniapp_api.accountview import view_key
from miniapp_api.residents.models import Relation
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result
from tests.support.factories import (
    bearer,
    make_account,
    make_desk,
    make_lab,
    make_residents,
    make_tube,
)

SCREENS = ("results", "code", "code.png", "code.svg")


def url_of(screen: str, resident_id: str) -> str:
    if screen == "results":
        return "/api/v1/results"
    return f"/api/v1/residents/{resident_id}/{screen}"


def views_reached(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths whose view ran (the gate answers kept screens before any view)."""
    reached: list[str] = []
    for endpoint in (
        "results.get_results",
        "codes.get_code",
        "codes.get_code_png",
        "codes.get_code_svg",
    ):
        view = app.view_functions[endpoint]

        def calling(*, _view: Callable[..., Any] = view, **arguments: Any) -> Any:
            reached.append(request.path)
            return _view(**arguments)

        monkeypatch.setitem(app.view_functions, endpoint, calling)
    return reached


def person_with_a_tube(app: Flask) -> tuple[str, dict[str, str], LabClient, str]:
    """A resident sampled into a tube; their id, session headers, the lab and the tube."""
    (me,) = make_residents(app, 1)
    headers = bearer(app, make_account(app, [(me, Relation.SELF)]))
    lab = make_lab(app)
    tube = make_tube(app, make_desk(app, lab), [me])
    return me.public_id, headers, LabClient(app.test_client(), lab), tube


@pytest.mark.parametrize("screen", SCREENS)
def test_a_client_holding_the_screen_gets_304_with_the_same_headers(
    served: Flask, monkeypatch: pytest.MonkeyPatch, screen: str
) -> None:
    client = served.test_client()
    resident_id, headers, _, _ = person_with_a_tube(served)
    url = url_of(screen, resident_id)
    first = client.get(url, headers=headers)
    tag = first.headers["ETag"]
    reached = views_reached(served, monkeypatch)

    again = client.get(
        url, headers={**headers, "If-None-Match": tag, "X-Request-ID": "refresh-0001"}
    )

    assert first.status_code == 200
    assert first.get_data()
    assert len(tag) == 26  # a quoted tag of 24 hex digits
    assert tag[0] == tag[-1] == '"'
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == tag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"] == "private, no-store"
    assert again.headers["X-Request-ID"] == "refresh-0001"
    assert "Content-Type" not in again.headers
    # Admission on: the gate answered from the kept screen; off: the view did.
    assert reached == ([] if served.extensions.get("miniapp.admission") else [url])


def test_if_none_match_compares_weakly_and_takes_lists_and_star(served: Flask) -> None:
    client = served.test_client()
    resident_id, headers, _, _ = person_with_a_tube(served)
    url = url_of("code", resident_id)
    tag = client.get(url, headers=headers).headers["ETag"]

    def status(if_none_match: str) -> int:
        return client.get(url, headers={**headers, "If-None-Match": if_none_match}).status_code

    assert status(f"W/{tag}") == 304
    assert status(f'"other", {tag}') == 304
    assert status("*") == 304
    assert status('"other"') == 200
    assert status(tag.strip('"')) == 200  # unquoted: not an entity tag


def test_a_new_result_changes_the_results_tag(served: Flask) -> None:
    client = served.test_client()
    _, headers, lab, tube = person_with_a_tube(served)
    before = client.get("/api/v1/results", headers=headers)
    tag = before.headers["ETag"]

    lab.upload([result(tube, "negative")])
    after = client.get("/api/v1/results", headers={**headers, "If-None-Match": tag})

    assert after.status_code == 200
    assert after.headers["ETag"] != tag
    assert after.get_json()["residents"][0]["latest"]["state"] == "negative"
    unchanged = client.get(
        "/api/v1/results", headers={**headers, "If-None-Match": after.headers["ETag"]}
    )
    assert unchanged.status_code == 304


@pytest.mark.parametrize("screen", ["code", "code.png"])
def test_a_reissued_code_changes_the_code_tag(served: Flask, screen: str) -> None:
    client = served.test_client()
    resident_id, headers, _, _ = person_with_a_tube(served)
    url = url_of(screen, resident_id)
    tag = client.get(url, headers=headers).headers["ETag"]
    assert client.get(url, headers={**headers, "If-None-Match": tag}).status_code == 304

    reissued = client.post(f"/api/v1/residents/{resident_id}/code", headers=headers)
    after = client.get(url, headers={**headers, "If-None-Match": tag})

    assert reissued.status_code == 201
    assert after.status_code == 200
    assert after.headers["ETag"] != tag


def test_the_tag_names_the_bytes_so_it_outlives_the_kept_copy(
    client: FlaskClient, app: Flask
) -> None:
    resident_id, headers, _, _ = person_with_a_tube(app)
    url = url_of("code", resident_id)
    first = client.get(url, headers=headers)
    account_id = client.get("/api/v1/me", headers=headers).get_json()["account"]["id"]
    wiring_of(app).redis.delete(view_key(account_id))  # expired, or dropped by a deployment

    again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304  # built again, byte for byte the same
    assert again.headers["ETag"] == first.headers["ETag"]
