"""One error shape, ``{"code", "message", "detail"}``, from one place.

Services raise :class:`ApiError` subclasses (plain exceptions carrying an HTTP status) or let
:mod:`channels.base` errors through; the handlers here turn both into responses.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    InvalidCode,
    InvalidPayload,
    SubscriptionRefused,
)
from miniapp_api.overload.rejection import jittered_retry_after

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status and a stable machine-readable ``code``."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers or {}
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_failed"


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"

    @classmethod
    def retry_later(cls, message: str, *, code: str, base_seconds: float) -> ServiceUnavailable:
        """503 with a jittered ``Retry-After``, also given in ``detail.retry_after``."""
        retry = jittered_retry_after(base_seconds)
        return cls(
            message,
            code=code,
            detail={"retry_after": retry},
            headers={"Retry-After": str(retry)},
        )


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify(code=code, message=message, detail=detail)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def channel_error_response(error: ChannelError, platform: str | None = None) -> Response:
    """Map a platform failure: bad codes are the client's 4xx, platform trouble is 502/503."""
    detail = {"platform": platform, "platform_code": error.platform_code}
    if isinstance(error, InvalidCode):
        return error_response(
            400,
            "invalid_code",
            "The code is invalid, used or expired; "
            "get a new one from the mini-program and try again.",
            detail,
        )
    if isinstance(error, InvalidPayload):
        return error_response(400, "invalid_payload", str(error), detail)
    if isinstance(error, SubscriptionRefused):
        return error_response(409, "subscription_refused", str(error), detail)
    if isinstance(error, ChannelMisconfigured):
        log.error("platform rejected our credentials: %s", error)
        return error_response(
            502,
            "platform_misconfigured",
            "The platform refused our request; operators are alerted.",
            detail,
        )
    # Throttling and outages (RateLimited, ChannelUnavailable) are answered with the overload
    # contract by miniapp_api.overload.responses; anything else unexpected lands here.
    retry = jittered_retry_after(2.0)
    log.warning("platform %s failed: %s (%s)", platform, type(error).__name__, error.platform_code)
    return error_response(
        503,
        "platform_unavailable",
        "The platform is not answering. You are not logged out: sessions and saved codes keep "
        "working. Try again shortly.",
        {**detail, "retry_after": retry},
        {"Retry-After": str(retry)},
    )


def register_error_handlers(app: Flask) -> None:
    """Every error leaves through here, in the one shape."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.detail, error.headers)

    @app.errorhandler(ChannelError)
    def handle_channel_error(error: ChannelError) -> Response:
        return channel_error_response(error, getattr(error, "platform", None))

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.response is None:
            valid = getattr(error, "valid_methods", None)
            if valid:
                response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")
