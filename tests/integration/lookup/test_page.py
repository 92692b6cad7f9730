"""``GET /lookup``: the H5 page, server-rendered, self-contained, with a strict policy, and the
QR decoder it loads (jsQR, vendored)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.lookup.page import page_text, page_text_json
from miniapp_api.messages import GUIDANCE_CODES, Text
from miniapp_api.messages.lookup import PAGE_ERRORS
from miniapp_api.overload.rejection import alternatives

# The SHA-256 of the vendored jsQR.js as npm publishes it in jsqr 1.4.0 (dist/jsQR.js): what
# `make vendor` prints. Change it only together with package.json and package-lock.json.
JSQR_VERSION = "1.4.0"
JSQR_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"
VENDORED = resources.files("miniapp_api") / "static" / "vendor"
REPOSITORY = Path(__file__).resolve().parents[3]
HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


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
    assert "证件号码" in html
    assert "ID number" in html
    assert "Last 4" not in html
    assert "后4位" not in html
    assert 'type="file"' in html, "a screenshot can be picked"
    assert "截图" in html
    assert "screenshot" in html
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
    assert f"script-src 'self' {sha256_source(script.group(1))};" in policy
    assert f"style-src {sha256_source(style.group(1))};" in policy
    assert "connect-src 'self';" in policy
    assert "img-src data: blob:;" in policy
    assert "unsafe-eval" not in policy
    assert "http" not in policy, "no other host"


def test_the_page_loads_the_vendored_decoder_from_this_app(client: FlaskClient) -> None:
    html = client.get("/lookup").get_data(as_text=True)

    assert 'data-jsqr="/lookup/jsQR.js"' in html
    with client.get("/lookup/jsQR.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Cache-Control"] == "public, max-age=86400"
        body = response.get_data()
    assert body == (VENDORED / "jsQR.js").read_bytes()


def test_the_vendored_decoder_is_the_pinned_release_byte_for_byte() -> None:
    vendored = (VENDORED / "jsQR.js").read_bytes()
    lock = json.loads((REPOSITORY / "package-lock.json").read_text())

    assert hashlib.sha256(vendored).hexdigest() == JSQR_SHA256, "run `make vendor`"
    assert lock["packages"]["node_modules/jsqr"]["version"] == JSQR_VERSION
    manifest = json.loads((REPOSITORY / "package.json").read_text())
    assert manifest["dependencies"]["jsqr"] == JSQR_VERSION, "pinned exactly"
    assert "Apache License" in (VENDORED / "jsQR.LICENSE").read_text()


def test_the_page_is_documented_as_critical_and_without_login(
    app: Flask, client: FlaskClient
) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert paths["/lookup"]["get"]["x-traffic-class"] == "critical"
    api = paths["/api/v1/lookup"]["post"]
    assert api["x-traffic-class"] == "critical"
    assert api["security"] == []
    assert {"404", "410", "422", "423", "429"} <= set(api["responses"])
    assert paths["/lookup/jsQR.js"]["get"]["x-traffic-class"] == "critical"


def words_of(html: str) -> dict[str, Any]:
    """The page's words (``<script type="application/json" id="words">``)."""
    found = re.search(r'<script type="application/json" id="words">(.*?)</script>', html, re.DOTALL)
    assert found is not None
    words: dict[str, Any] = json.loads(found.group(1))
    return words


def documented_codes(document: dict[str, Any], path: str, method: str) -> set[str]:
    """Every error code the OpenAPI document lists for one operation (the ``enum`` of each
    response's ``code``, shared responses resolved)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                _, kind, name = node["$ref"].rsplit("/", 2)
                walk(document["components"][kind][name])
            code = node.get("properties", {}).get("code", {})
            found.update(code.get("enum", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    responses = document["paths"][path][method]["responses"]
    walk({status: r for status, r in responses.items() if not status.startswith("2")})
    return found


def test_the_page_carries_every_error_the_lookup_may_answer_in_both_languages(
    client: FlaskClient,
) -> None:
    """The page shows each answer Chinese first with English beneath, by its code: every code
    the OpenAPI document lists for the lookup is in its words, in both."""
    words = words_of(client.get("/lookup").get_data(as_text=True))
    documented = documented_codes(client.get("/openapi.json").get_json(), "/api/v1/lookup", "post")

    assert {"not_found", "code_expired", "lookup_locked", "rate_limited"} <= documented
    assert "resident_not_found" not in documented, "the route's own codes, not every route's"
    assert documented <= set(words["errors"])
    for code, both in words["errors"].items():
        assert HAS_CJK.search(both["zh"]), code
        assert both["en"], code
        assert not HAS_CJK.search(both["en"]), code
    assert "证件号码" in words["errors"]["not_found"]["zh"], "the lookup's own, not 'not found'"
    assert {"network", "error"} <= set(words["errors"]), "failures before any answer"


def test_the_page_carries_every_guidance_and_alternative_in_both_languages(
    app: Flask, client: FlaskClient
) -> None:
    words = words_of(client.get("/lookup").get_data(as_text=True))
    hours = app.extensions["miniapp"].settings.results.overdue_hours

    assert set(words["guidance"]) == set(GUIDANCE_CODES)
    overdue = words["guidance"]["overdue"]
    assert f"{hours} 小时" in overdue["zh"]
    assert f"{hours} hours" in overdue["en"]
    assert "{site}" in overdue["zh"], "the page fills in the site of each result"
    # Every alternative the overload contract offers on the H5 path, whatever the platforms'
    # state, has its words.
    for status in ("ok", "busy", "down"):
        offered = alternatives("h5", ("wechat", "alipay"), {"wechat": status}, "/lookup")
        for found in offered:
            key = found["kind"]
            if key == "other_platform":
                key = f"other_platform.{found['platform']}.{found['status']}"
            assert key in words["alternatives"], key
            assert HAS_CJK.search(words["alternatives"][key]["zh"]), key
            assert words["alternatives"][key]["en"], key


def test_the_words_cannot_break_out_of_their_block(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message holding ``</script>`` stays data: the block is JSON with ``<`` escaped."""
    monkeypatch.setitem(PAGE_ERRORS, "error", Text("</script><script>alert(1)", "</script>"))
    page_text.cache_clear()
    page_text_json.cache_clear()
    try:
        html = client.get("/lookup").get_data(as_text=True)
    finally:
        page_text.cache_clear()
        page_text_json.cache_clear()

    assert "<script>alert(1)" not in html
    assert words_of(html)["errors"]["error"]["zh"] == "</script><script>alert(1)"
    assert "未找到" in html, "Chinese as UTF-8, not \\uXXXX"
