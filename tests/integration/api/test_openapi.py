"""The OpenAPI document is generated from the routes and their schemas."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_every_api_route_is_described_with_its_traffic_class(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    expected = {
        ("/api/v1/auth/wechat", "post"): "critical",
        ("/api/v1/auth/alipay", "post"): "critical",
        ("/api/v1/auth/logout", "post"): "normal",
        ("/api/v1/me", "get"): "normal",
        ("/api/v1/me/profile", "put"): "normal",
        ("/api/v1/me/phone", "post"): "normal",
        ("/api/v1/me/dependents", "post"): "normal",
        ("/api/v1/me/dependents/{resident_id}", "delete"): "normal",
    }
    found = {
        (path, method): op["x-traffic-class"]
        for path, ops in paths.items()
        for method, op in ops.items()
    }
    assert found == expected


def test_request_schemas_come_from_the_pydantic_models(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    profile = doc["components"]["schemas"]["ProfileIn"]
    assert set(profile["required"]) == {"name", "id_type", "id_number"}
    assert profile["additionalProperties"] is False
    login = doc["paths"]["/api/v1/auth/wechat"]["post"]
    assert "security" not in login
    assert "503" in login["responses"]
    assert doc["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
