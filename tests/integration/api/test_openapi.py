"""The OpenAPI document is generated from the routes and their schemas."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient


def test_every_api_route_is_described_with_its_traffic_class(
    app: Flask, client: FlaskClient
) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    described = {
        (path, method): op["x-traffic-class"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    api_routes = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert api_routes <= set(described), "every API route carries an @operation"
    assert set(described.values()) <= {"critical", "normal", "sheddable"}
    expected = {
        ("/api/v1/auth/wechat", "post"): "critical",
        ("/api/v1/auth/alipay", "post"): "critical",
        ("/api/v1/auth/review", "post"): "critical",
        ("/api/v1/auth/logout", "post"): "normal",
        ("/api/v1/me", "get"): "normal",
        ("/api/v1/me/profile", "put"): "normal",
        ("/api/v1/me/phone", "post"): "normal",
        ("/api/v1/me/dependents", "post"): "normal",
        ("/api/v1/me/dependents/{resident_id}", "delete"): "normal",
        ("/api/v1/me/real-name", "post"): "normal",
        ("/api/v1/me/link-requests/{request_id}/approve", "post"): "normal",
        ("/api/v1/me/link-requests/{request_id}/decline", "post"): "normal",
        ("/api/v1/me/holders/{holder_id}", "delete"): "normal",
        ("/api/v1/me/sessions/revoke", "post"): "normal",
        ("/api/v1/legal", "get"): "normal",
        ("/legal", "get"): "sheddable",
        ("/legal/{name}", "get"): "sheddable",
        ("/api/v1/me/consents", "post"): "normal",
        ("/api/v1/me/consents/{document}", "delete"): "normal",
        ("/api/v1/me", "delete"): "normal",
        ("/api/v1/me/export", "get"): "sheddable",
    }
    assert {k: described.get(k) for k in expected} == expected


def test_request_schemas_come_from_the_pydantic_models(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    profile = doc["components"]["schemas"]["ProfileIn"]
    assert set(profile["required"]) == {"name", "id_type", "id_number"}
    assert profile["additionalProperties"] is False
    login = doc["paths"]["/api/v1/auth/wechat"]["post"]
    assert login["security"] == []  # public: explicitly no credentials
    assert "503" in login["responses"]
    assert doc["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]


def test_every_route_is_classified_and_pages_are_described_as_html(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    classes = {
        (path, method): entry["x-traffic-class"]
        for path, methods in doc["paths"].items()
        for method, entry in methods.items()
    }
    assert classes[("/api/v1/results", "get")] == "critical"
    assert classes[("/api/v1/results/history", "get")] == "sheddable"
    assert classes[("/api/v1/lookup", "post")] == "critical"
    assert classes[("/api/v1/residents/{resident_id}/code", "post")] == "normal"
    assert set(classes.values()) <= {"critical", "normal", "sheddable"}
    page = doc["paths"]["/lookup"]["get"]["responses"]["200"]
    assert page["content"] == {"text/html": {}}
