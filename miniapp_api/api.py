"""Routes that describe themselves: schemas and traffic class, for parsing and OpenAPI.

``@operation(...)`` only attaches an :class:`Operation` to the view function; it registers
nothing. :func:`parse_body` is called explicitly by views. :mod:`miniapp_api.openapi` reads the
operations back from ``app.url_map`` to build the document.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from flask import Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from miniapp_api.accountview import (
    AccountViews,
    KeptScreen,
    ViewSnapshot,
    encode,
    entity_tag,
    not_modified,
)
from miniapp_api.errors import BadRequest, UnsupportedMediaType, ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


class TrafficClass(StrEnum):
    """How a route is treated under overload (README, "Overload")."""

    CRITICAL = "critical"  # show code, look up results, login
    NORMAL = "normal"  # profile, family
    SHEDDABLE = "sheddable"  # history and everything else


@dataclass(frozen=True)
class Operation:
    summary: str
    traffic: TrafficClass
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[int, ...] = ()
    abusable: bool = False
    kept: KeptScreen | None = None
    codes: tuple[str, ...] = ()
    queued: bool = False


def operation(
    summary: str,
    *,
    traffic: TrafficClass,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    abusable: bool = False,
    kept: KeptScreen | None = None,
    codes: tuple[str, ...] = (),
    queued: bool = False,
) -> Callable[[F], F]:
    """Describe a view: what it takes, what it returns, and its traffic class.

    ``abusable`` marks routes that cost us or could be used to guess (lookup by code, code
    re-issue): they fail closed when the admission store (Redis) is unreachable.

    ``kept`` says how the answer is kept in the caller's account view
    (``miniapp_api/accountview.py``): the admission gate reads it with the session and answers
    with it while it is valid; the view builds and keeps it otherwise.

    ``codes`` narrows the error codes the OpenAPI document lists for this route (by default,
    every code of the catalogue with each status it may answer: ``miniapp_api/messages``);
    ``queued`` marks routes behind the waiting room (``X-Queue-Ticket``).
    """

    def attach(view: F) -> F:
        view.api_operation = Operation(  # type: ignore[attr-defined]
            summary, traffic, body, response, status, auth, errors, abusable, kept, codes, queued
        )
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation | None:
    found = getattr(view, "api_operation", None)
    return found if isinstance(found, Operation) else None


def parse_body(model: type[M]) -> M:
    """Parse the JSON body into ``model`` (strictly): 415 if not JSON, 400 if malformed, 422 if
    invalid.

    Validation details name fields and rules only, never the submitted values (they may be
    ID or phone numbers).
    """
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body: Werkzeug stops reading at the limit and hands over what it read.
        raise RequestEntityTooLarge()
    try:
        return _validate(model, raw or b"{}")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("The body is not valid JSON.", code="malformed_json") from None
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationFailed("The request body is not valid.", detail=problems) from None


def _validate(model: type[M], raw: bytes) -> M:
    """Strictly: JSON types as /openapi.json declares them (no ``false`` for a number, no ``0``
    for a timestamp, no ``"1"`` for an integer). JSON Schema counts ``2.0`` as an integer, so
    when integral numbers written with a fraction are all that strictness refused, they pass."""
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if not all(_integral_float(e) for e in exc.errors()):
            raise
    return model.model_validate_json(raw)


def _integral_float(error: Any) -> bool:
    value = error.get("input")
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def kept_answer(
    views: AccountViews,
    account_id: str,
    screen: KeptScreen,
    signing_kid: str,
    build: Callable[[ViewSnapshot], tuple[bytes, float]],
) -> Response:
    """The route's kept screen for the caller (``account_id``, from the verified session).

    From the account view while it is valid (the gate usually answers those before Flask:
    ``admission/kept.py``; this serves them when admission is off or the gate could not), else
    ``build(snapshot)`` gives the body and the Unix time it is valid until, and it is kept.
    Either way with its ``ETag``, and a 304 without the body when ``If-None-Match`` names it.
    """
    field = screen.field_for(request.view_args or {})
    seen = views.seen(request.environ, account_id, (field,))
    version = screen.version(signing_kid)
    found = seen.kept(field, time.time(), version)
    if found is None:
        body, valid_until = build(seen)
        tag = entity_tag(body)
        views.fill(seen, {field: encode(body, valid_until, version, tag)})
        found = body, tag
    return _kept_response(screen, *found)


def _kept_response(screen: KeptScreen, body: bytes, tag: str) -> Response:
    """A kept screen as the gate sends it (``admission/kept.py``): 200, or 304 when the
    client holds this very body."""
    headers = {**screen.headers(), "ETag": tag}
    if not_modified(request.headers.get("If-None-Match", ""), tag):
        unchanged = Response(status=304, headers=headers)
        del unchanged.headers["Content-Type"]  # a 304 describes no content of its own
        return unchanged
    return Response(
        body,
        mimetype=screen.mimetype,
        headers=headers,
        # An image is sent as it is (as send_file would); only text is ever read back.
        direct_passthrough=screen.filename is not None,
    )
