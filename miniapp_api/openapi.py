"""The OpenAPI 3.1 document, generated from the routes and their pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel

from miniapp_api.api import Operation, operation_of

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "detail": {},
    },
}
# The overload contract (miniapp_api/overload/rejection.py): any route may answer 429 (the
# caller's quota) or 503 (shedding, Redis or the database down, a platform busy), always with
# a Retry-After and, in ``detail``, the reason and what works instead.
REJECTION_SCHEMA = {
    "allOf": [{"$ref": "#/components/schemas/Error"}],
    "properties": {
        "detail": {
            "type": "object",
            "required": ["retry_after"],
            "properties": {
                "reason": {"type": "string"},
                "retry_after": {"type": "integer", "minimum": 1},
                "alternatives": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kind", "message"],
                        "properties": {"kind": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
OVERLOAD_STATUSES = (429, 503)
RETRY_AFTER = {
    "description": "seconds to wait before trying again (jittered)",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
ERROR_DESCRIPTIONS = {
    400: "bad request: malformed_json, invalid_code, invalid_payload",
    401: "unauthorized: no valid credentials",
    404: "not found",
    409: "conflict with the current state",
    413: "body_too_large: the body is past the route's limit",
    415: "unsupported_media_type: the body is not application/json",
    422: "validation_failed: the body does not match its schema",
    429: "rate_limited (the overload contract): the caller's quota; Retry-After says when",
    503: "overloaded or temporarily_unavailable (the overload contract); Retry-After says when",
}


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    """Walk ``app.url_map`` and describe every route that carries an operation."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "Rejection": REJECTION_SCHEMA}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            entry: dict[str, Any] = {
                "summary": op.summary,
                "operationId": rule.endpoint.replace(".", "_") + "_" + method.lower(),
                "x-traffic-class": op.traffic.value,
                "responses": {str(op.status): _response(op.response, schemas, rule.rule)},
            }
            params = [
                {"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
                for a in sorted(rule.arguments)
            ]
            if params:
                entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.body, schemas)}},
                }
            if op.auth:
                entry["security"] = [{"bearer": []}]
            for status in sorted(_error_statuses(op, has_path_parameters=bool(params))):
                entry["responses"][str(status)] = _error_response(status)
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _error_statuses(op: Operation, *, has_path_parameters: bool) -> set[int]:
    """What a route may answer besides success: its own errors, and those every route of its
    kind can give (the overload contract and the body limit everywhere, 401 behind a
    session, 404 for unknown path parameters, the body's parse errors)."""
    statuses = {*op.errors, *OVERLOAD_STATUSES, 413}
    if op.auth:
        statuses.add(401)
    if has_path_parameters:
        statuses.add(404)
    if op.body is not None:
        statuses |= {400, 415, 422}
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    if status in OVERLOAD_STATUSES:
        return {
            "description": ERROR_DESCRIPTIONS[status],
            "headers": {"Retry-After": RETRY_AFTER},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rejection"}}},
        }
    return {
        "description": ERROR_DESCRIPTIONS.get(status, "error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _response(model: type[BaseModel] | None, schemas: dict[str, Any], path: str) -> dict[str, Any]:
    if model is None and path.endswith(".js"):
        return {"description": "a script", "content": {"text/javascript": {}}}
    if model is None and not path.startswith("/api/"):
        return {"description": "an HTML page", "content": {"text/html": {}}}
    if model is None:
        return {"description": "no content"}
    return {"description": "ok", "content": {"application/json": {"schema": _ref(model, schemas)}}}


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}
