"""Security headers come from one place (``miniapp_api/headers.py``): every answer says
``nosniff`` and sends no referrer; every HTML page refuses to be framed; the pages with their
own, stricter policy keep it; the answers the admission gate sends from a kept screen carry the
same headers as the view's."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.residents.models import Relation
from tests.support.factories import bearer, make_account, make_residents


@pytest.mark.parametrize(
    "path", ["/api/v1/codes/keys", "/openapi.json", "/healthz", "/api/v1/no-such-route"]
)
def test_every_answer_is_nosniff_without_referrer(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/ops", "/lookup"])
def test_every_page_refuses_to_be_framed(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "text/html"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_pages_own_policy_is_kept(client: FlaskClient) -> None:
    policy = client.get("/ops").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'nonce-" in policy


def test_a_kept_code_image_has_the_same_headers(app: Flask, client: FlaskClient) -> None:
    me = make_residents(app, 1)[0]
    headers = bearer(app, make_account(app, [(me, Relation.SELF)]))
    url = f"/api/v1/residents/{me.public_id}/code.svg"
    built, kept = client.get(url, headers=headers), client.get(url, headers=headers)
    for response in (built, kept):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
