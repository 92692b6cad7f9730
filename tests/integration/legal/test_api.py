"""``GET /api/v1/legal``: the documents the mini-programs show and ask consent to."""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient

from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.legal.labels import AUDIENCE


def test_the_list_names_every_document_with_the_hash_its_page_serves(
    client: FlaskClient,
) -> None:
    response = client.get("/api/v1/legal")  # no login

    assert response.status_code == 200
    body = response.get_json()
    assert [d["name"] for d in body["documents"]] == list(DOCUMENTS)
    for listed in body["documents"]:
        document = DOCUMENTS[listed["name"]]
        assert listed["version"] == document.version
        assert listed["title"] == {"zh": document.title_zh, "en": document.title_en}
        assert listed["consent"] == document.consent.value
        page = client.get(listed["url"])
        assert page.status_code == 200
        assert listed["sha256"] == hashlib.sha256(page.get_data()).hexdigest()
        assert listed["sha256"] == page.headers["X-Document-SHA256"]
    assert body["audience"] == {"zh": AUDIENCE.zh, "en": AUDIENCE.en}
    assert body["required_for_sensitive_data"] == list(REQUIRED_FOR_SENSITIVE_DATA)
    assert set(body["required_for_sensitive_data"]) == {"privacy", "terms", "sensitive-data"}


def test_the_list_is_cacheable_and_revalidated_by_its_etag(client: FlaskClient) -> None:
    first = client.get("/api/v1/legal")

    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["ETag"] == f'"{hashlib.sha256(first.get_data()).hexdigest()}"'
    again = client.get("/api/v1/legal", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_the_api_document_describes_the_list(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()

    listing = doc["paths"]["/api/v1/legal"]["get"]
    assert listing["security"] == []
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/LegalOut"}
    documents = doc["components"]["schemas"]["LegalDocumentOut"]
    assert set(documents["required"]) == {"name", "version", "sha256", "title", "url", "consent"}
    page = doc["paths"]["/legal/{name}"]["get"]["responses"]
    assert page["200"]["content"] == {"text/html": {}}
    assert "404" in page
