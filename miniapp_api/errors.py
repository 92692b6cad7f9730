"""One error shape, ``{"code", "message", "detail"}``, from one place.

Errors travel up, never sideways: services raise :class:`ApiError` subclasses (plain exceptions
carrying an HTTP status) or :class:`~miniapp_api.overload.rejection.Rejected`, and let
:mod:`channels.base` errors and Redis connection errors through; views catch none of them. The
handlers registered here answer every one:

- ``ApiError``: its status and code;
- ``Rejected``, an unreachable Redis or database, a throttling or unreachable platform: the
  overload contract (429/503, ``Retry-After``, what works instead), rendered by the app's
  :class:`~miniapp_api.overload.renderer.RejectionRenderer`; a throttling platform is also
  remembered, so every worker's rejections name it busy for a while;
- other platform errors: 400 (a bad code or payload), 409, 502 (our credentials);
- anything else: 500, logged, nothing of it in the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    InvalidCode,
    InvalidPayload,
    RateLimited,
    SubscriptionRefused,
)
from miniapp_api.overload.rejection import Rejected, Rejection, channel_of, jittered_retry_after
from miniapp_api.overload.renderer import RejectionRenderer
from miniapp_api.redis_client import REDIS_DOWN
from miniapp_api.security.passwords import HashingBusy

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


def _channel_error_response(error: ChannelError) -> Response:
    """A platform refused what the client gave us (4xx) or our credentials (502)."""
    detail = {"platform": error.platform, "platform_code": error.platform_code}
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
        log.error("platform %s rejected our credentials: %s", error.platform, error)
        return error_response(
            502,
            "platform_misconfigured",
            "The platform refused our request; operators are alerted.",
            detail,
        )
    # Throttling and outages (RateLimited, ChannelUnavailable) are answered with the overload
    # contract by the handler below; anything else unexpected lands here.
    retry = jittered_retry_after(2.0)
    log.warning(
        "platform %s failed: %s (%s)", error.platform, type(error).__name__, error.platform_code
    )
    return error_response(
        503,
        "platform_unavailable",
        "The platform is not answering. You are not logged out: sessions and saved codes keep "
        "working. Try again shortly.",
        {**detail, "retry_after": retry},
        {"Retry-After": str(retry)},
    )


def _platform_trouble(error: RateLimited | ChannelUnavailable) -> Rejection:
    """Throttling and outages are overload too (README, "Overload"): the same contract."""
    retry = error.retry_after if isinstance(error, RateLimited) else 2.0
    reason = "platform_throttled" if isinstance(error, RateLimited) else "platform_unavailable"
    extra = {"platform": error.platform, "platform_code": error.platform_code}
    return Rejection(503, reason, retry, extra)


def register_error_handlers(app: Flask, rejections: RejectionRenderer) -> None:
    """Every error leaves through here, in the one shape."""

    def rejection_response(rejection: Rejection) -> Response:
        status, headers, body = rejections.render(rejection, channel_of(request.environ))
        return Response(body, status=status, headers=headers)

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.detail, error.headers)

    @app.errorhandler(HashingBusy)
    def handle_hashing_busy(error: HashingBusy) -> Response:
        # Every argon2 slot of this process stayed taken (security/passwords.py): a login
        # flood; the caller tries again shortly, elsewhere if it can.
        return rejection_response(Rejection(503, "local_concurrency", 2.0))

    @app.errorhandler(Rejected)
    def handle_rejected(error: Rejected) -> Response:
        return rejection_response(error.rejection)

    def handle_redis_down(error: Exception) -> Response:
        # A view needed Redis and it did not answer: 503 with the alternatives, never a 500.
        log.warning("redis unreachable in %s: %s", request.endpoint, type(error).__name__)
        return rejection_response(Rejection(503, "redis_unavailable", 5.0))

    for kind in REDIS_DOWN:
        app.register_error_handler(kind, handle_redis_down)

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> Response:
        # The database went away (restart, fail-over, connections ended) or refused for now
        # (starting up, serialization): a 503 to retry, with the alternatives, never a 500.
        # Only type names in the log: the error's text holds the statement and its parameters.
        log.warning("database unreachable in %s: %s", request.endpoint, type(error.orig).__name__)
        return rejection_response(Rejection(503, "database_unavailable", 5.0))

    @app.errorhandler(ChannelError)
    def handle_channel_error(error: ChannelError) -> Response:
        if isinstance(error, RateLimited | ChannelUnavailable):
            busy = isinstance(error, RateLimited)
            platform = error.platform or "unknown"
            rejections.platform_failed(platform, "busy" if busy else "down")
            log.warning(
                "platform %s %s (%s)",
                platform,
                "throttled" if busy else "unavailable",
                error.platform_code,
            )
            return rejection_response(_platform_trouble(error))
        return _channel_error_response(error)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_body_too_large(error: RequestEntityTooLarge) -> Response:
        # Raised by Werkzeug before the body is read when Content-Length says too much, or
        # as soon as a chunked body passes the limit: nothing more is buffered.
        limit = request.max_content_length
        return error_response(
            413,
            "body_too_large",
            "The request body is too large.",
            {"max_bytes": limit} if limit is not None else None,
        )

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
