"""The OpenAPI 3.1 document, generated from the routes, their pydantic schemas and the catalogue
of error codes (``miniapp_api/messages``).

Every operation lists the statuses it may answer; each error status names the codes it can
carry (an enum per status, from the catalogue) and their ``detail`` (one schema per kind:
``ValidationError``, ``PlatformError``, ``Rejection``, ...). 429 and 503 are the overload
contract with ``Retry-After`` on every operation. ``make contract`` lints the document
(redocly), generates TypeScript from it (openapi-typescript) and type-checks a client against it.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from miniapp_api.api import Operation, operation_of
from miniapp_api.messages import CATALOGUE, DetailKind, codes_for
from miniapp_api.messages.rejections import REASONS
from miniapp_api.overload.waiting_room import TICKET_HEADER
from miniapp_api.wiring import EXTENSION_KEY, Wiring

OVERLOAD_STATUSES = (429, 503)
# The schema of each kind of ``detail`` (``messages.DetailKind``).
KIND_SCHEMAS = {
    DetailKind.NONE: "PlainError",
    DetailKind.VALIDATION: "ValidationError",
    DetailKind.PLATFORM: "PlatformError",
    DetailKind.REJECTION: "Rejection",
    DetailKind.OBJECT: "DetailError",
}
# Codes any route may answer whatever its own list says (``@operation(codes=...)``): the
# overload contract, the body's parsing, the session, the router.
ANY_ROUTE = frozenset(
    {code for code, entry in CATALOGUE.items() if entry.detail is DetailKind.REJECTION}
    | {
        "body_too_large",
        "malformed_json",
        "unsupported_media_type",
        "validation_failed",
        "unauthorized",
        "not_found",
        "internal_error",
    }
)
DESCRIPTIONS = {
    400: "bad request",
    401: "no valid credentials",
    404: "not found",
    405: "method not allowed",
    409: "conflict with the current state",
    410: "gone",
    413: "the body is past the route's limit",
    415: "the body is not application/json",
    422: "the body does not match its schema or rules",
    423: "locked",
    429: "the overload contract: the caller's quota; Retry-After says when",
    502: "a platform refused our credentials",
    503: "the overload contract: shedding, a dependency or a platform away; Retry-After says when",
}
RETRY_AFTER = {
    "description": "seconds to wait before trying again (jittered); also detail.retry_after",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
REQUEST_ID = {
    "description": "the request's id (the client's own X-Request-ID if it sent a sane one); "
    "quote it when reporting a problem",
    "schema": {"type": "string"},
}
CONTENT_LANGUAGE = {
    "description": "the language of message: zh-CN (the default) or en, from Accept-Language",
    "schema": {"type": "string", "enum": ["zh-CN", "en"]},
}
ACCEPT_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "zh (zh-CN, zh-Hans, zh-TW, ...) or en (en-US, ...), q-values honoured; "
    "messages are in Simplified Chinese unless English is preferred",
    "schema": {"type": "string"},
}
QUEUE_TICKET = {
    "name": TICKET_HEADER,
    "in": "header",
    "required": False,
    "description": "the waiting room's ticket from a 503 waiting_room (detail.ticket), sent "
    "again after detail.estimated_wait to keep the place in the queue",
    "schema": {"type": "string", "maxLength": 256},
}
BINARY_BY_SUFFIX = {".png": "image/png", ".svg": "image/svg+xml"}
LAB_SECURITY: dict[str, list[str]] = {
    "labId": [],
    "labTimestamp": [],
    "labNonce": [],
    "labSignature": [],
}


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    """Walk ``app.url_map`` and describe every route that carries an operation."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = error_schemas()
    responses: dict[str, Any] = {}  # an error status's answer, shared by the routes
    described = [
        (rule, op)
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
        if (op := operation_of(app.view_functions[rule.endpoint])) is not None
    ]
    ids = operation_ids([rule for rule, _ in described])
    for rule, op in described:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in _methods(rule):
            entry: dict[str, Any] = {
                "summary": op.summary,
                "operationId": ids[(rule.endpoint, method)],
                "x-traffic-class": op.traffic.value,
                "responses": {str(op.status): _response(op, schemas, rule.rule)},
            }
            params: list[dict[str, Any]] = [
                {"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
                for a in sorted(rule.arguments)
            ]
            params.append(ACCEPT_LANGUAGE)
            if op.queued:
                params.append(QUEUE_TICKET)
            entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.body, schemas)}},
                }
            security = _security(rule, op)
            entry["security"] = security
            for status in sorted(_error_statuses(op, has_path_parameters=bool(rule.arguments))):
                entry["responses"][str(status)] = _error_ref(status, op, responses)
            paths.setdefault(path, {})[method.lower()] = entry
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Errors are {code, message, detail}: code from the ErrorCode enum, "
            "message in the caller's language (Accept-Language: zh by default, or en), detail "
            "typed by the kind of error.",
            "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": dict(sorted(responses.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    server = _public_base_url(app)
    if server is not None:
        document["servers"] = [{"url": server, "description": "this deployment"}]
    return document


def operation_ids(rules: list[Rule]) -> dict[tuple[str, str], str]:
    """``getCode``, ``loginWechat``, ...: the view function's name in camelCase, the method
    added only when one function answers several, the blueprint's name put first only when two
    blueprints' functions share a name."""
    plain: dict[tuple[str, str], str] = {}
    for rule in rules:
        methods = _methods(rule)
        for method in methods:
            words = rule.endpoint.rpartition(".")[2].split("_")
            if len(methods) > 1 and words[0] != method.lower():
                words = [method.lower(), *words]
            plain[(rule.endpoint, method)] = _camel(words)
    taken: dict[str, int] = {}
    for name in plain.values():
        taken[name] = taken.get(name, 0) + 1
    return {
        key: _camel([key[0].partition(".")[0], name]) if taken[name] > 1 else name
        for key, name in plain.items()
    }


def _camel(words: list[str]) -> str:
    joined = "_".join(words).split("_")
    return joined[0] + "".join(w[:1].upper() + w[1:] for w in joined[1:])


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _public_base_url(app: Flask) -> str | None:
    found = app.extensions.get(EXTENSION_KEY)
    return found.settings.public_base_url if isinstance(found, Wiring) else None


def _security(rule: Rule, op: Operation) -> list[dict[str, list[str]]]:
    if rule.endpoint.partition(".")[0] == "lab":
        return [LAB_SECURITY]
    return [{"bearer": []}] if op.auth else []


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


def answerable_codes(op: Operation, *, has_path_parameters: bool = False) -> list[str]:
    """Every error code the document lists for ``op``, in catalogue order (what a client of
    the route must be ready to show)."""
    statuses = _error_statuses(op, has_path_parameters=has_path_parameters)
    found = {code for status in statuses for code in codes_of(status, op)}
    return [code for code in CATALOGUE if code in found]


def codes_of(status: int, op: Operation) -> list[str]:
    """The codes ``op`` may answer with ``status``: the catalogue's, narrowed to the route's
    own list if it has one (never below what any route may answer)."""
    every = codes_for(status)
    if not op.codes:
        return every
    return [c for c in every if c in op.codes or c in ANY_ROUTE] or every


def _error_ref(status: int, op: Operation, responses: dict[str, Any]) -> dict[str, Any]:
    """A route's answer with an error ``status``: the shared one (``Error409``, ...) unless the
    route narrows its codes."""
    if op.codes:
        return _error_response(status, op)
    name = f"Error{status}"
    if name not in responses:
        responses[name] = _error_response(status, op)
    return {"$ref": f"#/components/responses/{name}"}


def _error_response(status: int, op: Operation) -> dict[str, Any]:
    by_kind: dict[DetailKind, list[str]] = {}
    for code in codes_of(status, op):
        by_kind.setdefault(CATALOGUE[code].detail, []).append(code)
    branches = [
        {
            "allOf": [{"$ref": f"#/components/schemas/{KIND_SCHEMAS[kind]}"}],
            "required": ["code"],
            "properties": {"code": {"type": "string", "enum": codes}},
        }
        for kind, codes in by_kind.items()
    ]
    schema = branches[0] if len(branches) == 1 else {"oneOf": branches}
    headers: dict[str, Any] = {"X-Request-ID": REQUEST_ID, "Content-Language": CONTENT_LANGUAGE}
    if status in OVERLOAD_STATUSES:
        headers["Retry-After"] = RETRY_AFTER
    return {
        "description": DESCRIPTIONS.get(status, "error") + ": " + ", ".join(codes_of(status, op)),
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


def _response(op: Operation, schemas: dict[str, Any], path: str) -> dict[str, Any]:
    headers = {"X-Request-ID": REQUEST_ID}
    binary = op.kept.mimetype if op.kept and op.kept.mimetype != "application/json" else None
    binary = binary or next((t for s, t in BINARY_BY_SUFFIX.items() if path.endswith(s)), None)
    if binary is not None:
        content = {binary: {"schema": {"type": "string", "contentMediaType": binary}}}
        return {"description": "an image", "headers": headers, "content": content}
    if op.response is None and path.endswith(".js"):
        return {"description": "a script", "headers": headers, "content": {"text/javascript": {}}}
    if op.response is None and not path.startswith("/api/"):
        return {"description": "an HTML page", "headers": headers, "content": {"text/html": {}}}
    if op.response is None:
        return {"description": "no content", "headers": headers}
    schema = _ref(op.response, schemas)
    return {
        "description": "ok",
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _lab_header(name: str, what: str) -> dict[str, str]:
    return {"type": "apiKey", "in": "header", "name": name, "description": what}


SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a session token: a resident's (POST /api/v1/auth/wechat or alipay), "
        "a sampling staff member's (POST /api/v1/staff/login) or an operator's",
    },
    # A lab signs each request with its secret (miniapp_api/lab/signing.py): four headers, all
    # required together.
    "labId": _lab_header("X-Lab-Id", "the lab's id"),
    "labTimestamp": _lab_header("X-Timestamp", "Unix seconds, within the server's tolerance"),
    "labNonce": _lab_header("X-Nonce", "8-64 of A-Za-z0-9_-, never reused"),
    "labSignature": _lab_header(
        "X-Signature", "hex HMAC-SHA256 of METHOD, PATH, X-Timestamp, X-Nonce, body SHA-256"
    ),
}


def error_schemas() -> dict[str, Any]:
    """The ``Error`` family: one schema per kind of ``detail``, and ``Error``, any of them."""
    ref = "#/components/schemas/"

    def kind(detail: dict[str, Any], what: str) -> dict[str, Any]:
        return {
            "description": what,
            "type": "object",
            "required": ["code", "message", "detail"],
            "properties": {
                "code": {"$ref": ref + "ErrorCode"},
                "message": {
                    "type": "string",
                    "description": "for people, in the language of Content-Language",
                },
                "detail": detail,
            },
        }

    named = sorted({f for entry in CATALOGUE.values() for f in entry.fields})
    return {
        "ErrorCode": {
            "description": "every error code the API answers (miniapp_api/messages/catalogue.py)",
            "type": "string",
            "enum": list(CATALOGUE),
        },
        "Error": {
            "description": "the one error shape, {code, message, detail}: detail by kind",
            "anyOf": [{"$ref": ref + name} for name in KIND_SCHEMAS.values()],
        },
        "Problem": {
            "type": "object",
            "required": ["field", "problem"],
            "properties": {
                "field": {"type": "string", "description": "dotted path, or (body)"},
                "problem": {"type": "string"},
            },
        },
        "PlainError": kind({"type": "null"}, "an error with nothing more to say"),
        "ValidationError": kind(
            {"type": "array", "items": {"$ref": ref + "Problem"}},
            "the body or a field failed its schema or a rule (always 422)",
        ),
        "DetailError": kind(
            {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {name: {} for name in named},
                        "additionalProperties": {},
                    },
                ]
            },
            "an error whose detail names limits or documents",
        ),
        "PlatformDetail": {
            "type": "object",
            "required": ["platform", "platform_code"],
            "properties": {
                "platform": {"type": ["string", "null"], "description": "wechat, alipay, ..."},
                "platform_code": {
                    "type": ["string", "integer", "null"],
                    "description": "the platform's own error code",
                },
            },
        },
        "PlatformError": kind(
            {"$ref": ref + "PlatformDetail"}, "WeChat or Alipay refused what was sent"
        ),
        "RejectionReason": {"type": "string", "enum": list(REASONS)},
        "Alternative": {
            "type": "object",
            "required": ["kind", "message"],
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["saved_code", "other_platform", "h5_lookup", "push"],
                },
                "message": {"type": "string"},
                "offline": {"type": "boolean"},
                "platform": {"type": "string"},
                "status": {"type": "string", "enum": ["ok", "busy", "down"]},
                "url": {"type": "string"},
            },
        },
        "RejectionDetail": {
            "type": "object",
            "required": ["reason", "retry_after", "alternatives"],
            "properties": {
                "reason": {"$ref": ref + "RejectionReason"},
                "retry_after": {"type": "integer", "minimum": 1},
                "alternatives": {"type": "array", "items": {"$ref": ref + "Alternative"}},
                "ticket": {"type": "string", "description": "waiting_room: send as X-Queue-Ticket"},
                "ticket_status": {
                    "type": "string",
                    "enum": ["new", "early", "invalid", "expired"],
                },
                "position": {"type": "integer", "minimum": 1},
                "estimated_wait": {"type": "integer", "minimum": 0, "description": "seconds"},
                "limit": {"type": "string", "enum": ["code", "address"]},
                "platform": {"type": ["string", "null"]},
                "platform_code": {"type": ["string", "integer", "null"]},
            },
        },
        "Rejection": kind(
            {"$ref": ref + "RejectionDetail"},
            "the overload contract (429, 503): why, when to retry, what works instead",
        ),
    }
