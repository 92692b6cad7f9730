"""The OpenAPI 3.1 document, generated from the routes and their pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel

from miniapp_api.api import operation_of

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "detail": {},
    },
}


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    """Walk ``app.url_map`` and describe every route that carries an operation."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
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
            for status in sorted({*op.errors, 422} if op.body else set(op.errors)):
                entry["responses"][str(status)] = {
                    "description": "error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
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
