"""``GET /legal`` and ``GET /legal/<name>``: every document, in both languages, with the
security headers of ``/lookup``, its hash in a header and its ETag."""

from __future__ import annotations

import hashlib
import html as entities
import re

import pytest
from flask.testing import FlaskClient

from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.legal.labels import AUDIENCE
from miniapp_api.legal.rendering import content_hash, render

NAMES = sorted(DOCUMENTS)
# Headers whose policy /lookup sets and every legal page must set alike.
SHARED_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Cache-Control")


def directives(policy: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


@pytest.mark.parametrize("name", NAMES)
def test_every_document_is_a_page_in_chinese_then_english(client: FlaskClient, name: str) -> None:
    response = client.get(f"/legal/{name}")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.content_type == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    document = DOCUMENTS[name]
    assert '<html lang="zh-Hans">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    zh = html.index(f'<span lang="zh-Hans">{document.title_zh}</span>')
    en = html.index(f'<span lang="en" class="en">{document.title_en}</span>')
    assert zh < en, "the Chinese title comes first"
    assert document.version in html
    text = entities.unescape(html)
    assert AUDIENCE.zh in text
    assert AUDIENCE.en in text
    assert html.count('lang="zh-Hans"') > 3
    assert html.count('lang="en"') > 3
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external asset"


@pytest.mark.parametrize("name", NAMES)
def test_the_hash_header_and_etag_are_the_sha256_of_the_body(
    client: FlaskClient, name: str
) -> None:
    response = client.get(f"/legal/{name}")

    body = response.get_data()
    digest = hashlib.sha256(body).hexdigest()
    assert response.headers["X-Document-SHA256"] == digest
    assert response.headers["X-Document-Version"] == DOCUMENTS[name].version
    assert response.headers["ETag"] == f'"{digest}"'
    assert body == render(name)
    assert digest == content_hash(name)
    assert digest not in body.decode(), "a page cannot contain its own hash"


def test_a_cached_page_is_answered_304_without_a_body(client: FlaskClient) -> None:
    first = client.get("/legal/privacy")

    again = client.get("/legal/privacy", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["X-Document-SHA256"] == first.headers["X-Document-SHA256"]
    stale = client.get("/legal/privacy", headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("path", [*(f"/legal/{name}" for name in NAMES), "/legal"])
def test_pages_carry_the_security_headers_of_the_lookup_page(
    client: FlaskClient, path: str
) -> None:
    lookup = client.get("/lookup")
    page = client.get(path)

    assert page.status_code == 200
    for header in SHARED_HEADERS:
        assert page.headers[header] == lookup.headers[header], header
    ours = directives(page.headers["Content-Security-Policy"])
    theirs = directives(lookup.headers["Content-Security-Policy"])
    for directive in ("default-src", "base-uri", "frame-ancestors"):
        assert ours[directive] == theirs[directive] == "'none'", directive
    # Stricter than /lookup: no script at all, no request, no form anywhere.
    assert "script-src" not in ours
    assert "connect-src" not in ours
    assert ours["form-action"] == "'none'"
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def test_the_inline_style_is_allowed_by_its_hash(client: FlaskClient) -> None:
    import base64

    response = client.get("/legal/terms")
    style = re.search(r"<style>(.*?)</style>", response.get_data(as_text=True), re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert directives(response.headers["Content-Security-Policy"])["style-src"] == (
        f"'sha256-{digest}'"
    )


def test_the_index_links_every_document_with_its_version(client: FlaskClient) -> None:
    response = client.get("/legal")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for document in DOCUMENTS.values():
        assert f'href="/legal/{document.name}"' in html
        assert document.title_zh in html
    assert response.headers["ETag"] == f'"{hashlib.sha256(response.get_data()).hexdigest()}"'
    assert "X-Document-SHA256" not in response.headers, "the index is not a document"


def test_an_unknown_document_is_a_404_in_the_error_shape(client: FlaskClient) -> None:
    response = client.get("/legal/cookies", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert response.get_json() == {
        "code": "document_not_found",
        "message": "No such legal document.",
        "detail": {"documents": list(DOCUMENTS)},
    }
