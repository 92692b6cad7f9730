"""``GET /lookup``: the H5 page, server-rendered, self-contained, with a strict policy."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask
from flask.testing import FlaskClient


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_is_a_self_contained_mobile_page(client: FlaskClient) -> None:
    response = client.get("/lookup")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "登记码" in html
    assert "Registration code" in html
    assert "Last 4 characters of your ID number" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external asset"
    assert "<noscript>" in html


def test_the_inline_script_and_style_are_allowed_by_hash_only(client: FlaskClient) -> None:
    response = client.get("/lookup")
    html = response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]

    script = re.search(r"<script>(.*?)</script>", html, re.DOTALL)
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert script is not None
    assert style is not None
    assert "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    assert f"script-src {sha256_source(script.group(1))};" in policy
    assert f"style-src {sha256_source(style.group(1))};" in policy
    assert "connect-src 'self'" in policy


def test_the_page_is_documented_as_critical_and_without_login(
    app: Flask, client: FlaskClient
) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert paths["/lookup"]["get"]["x-traffic-class"] == "critical"
    api = paths["/api/v1/lookup"]["post"]
    assert api["x-traffic-class"] == "critical"
    assert "security" not in api
    assert {"404", "410", "429"} <= set(api["responses"])
