"""The OpenAPI document as a client generator reads it: clean operation ids, every error status
with its codes and typed detail, the overload contract's headers, binary answers typed.

(``make contract`` lints it with redocly and type-checks tests/ts/contract.ts against the
TypeScript openapi-typescript generates from it.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from miniapp_api.api import TrafficClass, operation
from miniapp_api.messages import CATALOGUE, DetailKind, codes_for
from miniapp_api.openapi import KIND_SCHEMAS, build_document

CAMEL = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)*$")


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    return build_document(app, "t", "1")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, entry)
        for path, methods in document["paths"].items()
        for method, entry in methods.items()
    ]


def _resolve(document: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in found:
        *_, section, name = found["$ref"].split("/")
        found = document["components"][section][name]
    return found


def _codes(schema: dict[str, Any]) -> dict[str, str]:
    """``{code: detail schema name}`` of an error response's schema."""
    branches = schema.get("oneOf", [schema])
    return {
        code: branch["allOf"][0]["$ref"].rpartition("/")[2]
        for branch in branches
        for code in branch["properties"]["code"]["enum"]
    }


def test_operation_ids_are_unique_camel_case_without_the_method_repeated(
    document: dict[str, Any],
) -> None:
    ids = {(path, method): entry["operationId"] for path, method, entry in _operations(document)}
    assert len(set(ids.values())) == len(ids)
    assert all(CAMEL.match(name) for name in ids.values()), ids
    assert ids[("/api/v1/residents/{resident_id}/code", "get")] == "getCode"
    assert ids[("/api/v1/residents/{resident_id}/code", "post")] == "postCode"
    assert ids[("/api/v1/auth/wechat", "post")] == "loginWechat"
    # Two blueprints name a view "page": the blueprint tells them apart.
    assert ids[("/lookup", "get")] == "lookupPage"
    assert ids[("/legal/{name}", "get")] == "legalPage"


def test_every_operation_documents_the_overload_contract(document: dict[str, Any]) -> None:
    for path, method, entry in _operations(document):
        for status in ("429", "503"):
            answer = _resolve(document, entry["responses"][status])
            assert answer["headers"]["Retry-After"]["required"] is True, (path, method)
            assert "X-Request-ID" in answer["headers"]
            codes = _codes(answer["content"]["application/json"]["schema"])
            assert set(codes.values()) == {"Rejection"}, (path, method, status)
            assert sorted(codes) == sorted(codes_for(int(status)))
        languages = [p["name"] for p in entry["parameters"] if p["in"] == "header"]
        assert "Accept-Language" in languages


# Routes that name their own codes (``@operation(codes=...)``): per status, what they list
# (statuses not here list every code of the catalogue with that status).
NARROWED: dict[tuple[str, str], dict[int, list[str]]] = {
    ("/api/v1/lookup", "post"): {
        400: ["bad_request", "malformed_json"],
        404: ["not_found"],
        410: ["code_expired"],
        413: ["body_too_large"],
        422: ["validation_failed"],
        423: ["lookup_locked"],
    },
}


def test_each_error_status_lists_the_catalogues_codes_with_their_detail_schema(
    document: dict[str, Any],
) -> None:
    seen: set[str] = set()
    for path, method, entry in _operations(document):
        narrowed = NARROWED.get((path, method), {})
        for status, answer in entry["responses"].items():
            if int(status) < 400:
                continue
            schema = _resolve(document, answer)["content"]["application/json"]["schema"]
            codes = _codes(schema)
            expected = narrowed.get(int(status), codes_for(int(status)))
            assert sorted(codes) == sorted(expected), (path, status)
            for code, kind in codes.items():
                assert KIND_SCHEMAS[CATALOGUE[code].detail] == kind
            seen |= set(codes)
    schemas = document["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == list(CATALOGUE)
    assert {"already_linked", "resident_not_found", "waiting_room"} <= seen
    rejection = schemas["RejectionDetail"]["properties"]
    assert {"reason", "retry_after", "alternatives", "ticket", "estimated_wait"} <= set(rejection)
    assert schemas["ValidationError"]["properties"]["detail"]["type"] == "array"
    assert set(schemas["PlatformDetail"]["required"]) == {"platform", "platform_code"}


def test_images_are_typed_and_the_document_names_its_server_and_schemes(
    app: Flask, document: dict[str, Any]
) -> None:
    png = document["paths"]["/api/v1/residents/{resident_id}/code.png"]["get"]["responses"]
    svg = document["paths"]["/api/v1/residents/{resident_id}/code.svg"]["get"]["responses"]
    assert set(png["200"]["content"]) == {"image/png"}
    assert set(svg["200"]["content"]) == {"image/svg+xml"}
    public = app.extensions["miniapp"].settings.public_base_url
    assert document["servers"] == [{"url": public, "description": "this deployment"}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["labSignature"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": schemes["labSignature"]["description"],
    }
    upload = document["paths"]["/api/v1/lab/results"]["post"]
    assert upload["security"] == [
        {"labId": [], "labTimestamp": [], "labNonce": [], "labSignature": []}
    ]


def test_a_queued_route_takes_the_ticket_and_a_route_may_narrow_its_codes() -> None:
    app = Flask(__name__)

    @app.put("/api/v1/queued")
    @operation("queued", traffic=TrafficClass.NORMAL, queued=True, errors=(409,))
    def queued() -> str:
        return ""

    @app.get("/api/v1/narrow")
    @operation("narrow", traffic=TrafficClass.NORMAL, codes=("already_linked",), errors=(409,))
    def narrow() -> str:
        return ""

    document = build_document(app, "t", "1")

    queued_entry = document["paths"]["/api/v1/queued"]["put"]
    headers = {p["name"] for p in queued_entry["parameters"] if p["in"] == "header"}
    assert headers == {"Accept-Language", "X-Queue-Ticket"}
    narrow_entry = document["paths"]["/api/v1/narrow"]["get"]
    assert "X-Queue-Ticket" not in {p["name"] for p in narrow_entry["parameters"]}
    schema = narrow_entry["responses"]["409"]["content"]["application/json"]["schema"]
    assert _codes(schema) == {"already_linked": "PlainError"}
    # The overload contract stays whole whatever the route narrows.
    assert sorted(
        _codes(
            _resolve(document, narrow_entry["responses"]["503"])["content"]["application/json"][
                "schema"
            ]
        )
    ) == sorted(codes_for(503))
    assert "servers" not in document  # no deployment settings: no server to name
    assert all(CATALOGUE[c].detail is DetailKind.REJECTION for c in codes_for(429) + codes_for(503))
