"""One error shape, ``{"code", "message", "detail"}``, from one place.

Errors travel up, never sideways: services raise :class:`ApiError` subclasses (plain exceptions
carrying an HTTP status) or :class:`~miniapp_api.overload.rejection.Rejected`, and let
:mod:`channels.base` errors and Redis connection errors through; views catch none of them. The
handlers registered here answer every one:

- ``ApiError``: its status and code;
- ``Rejected``, a :class:`ServiceUnavailable`, an unreachable Redis or database, a throttling or
  unreachable platform: the overload contract (429/503, ``Retry-After``, what works instead),
  rendered by the app's :class:`~miniapp_api.overload.renderer.RejectionRenderer`; a
  throttling platform is also remembered, so every worker's rejections name it busy for a while;
- other platform errors: 400 (a bad code or payload), 409, 502 (our credentials);
- an unknown route or method: 404 ``not_found``, 405 ``method_not_allowed`` (never Werkzeug's
  page or its text);
- anything else: 500, logged, nothing of it in the answer.

Every message comes from the catalogue (``miniapp_api/messages``) in the caller's language:
Simplified Chinese unless ``Accept-Language`` prefers English (``Content-Language`` says which).
The sentence a raise site gives is the English answer for codes the catalogue marks
``specific`` (it names a limit, a platform, a reason), else only a fallback. A raise site that
gives a :class:`~miniapp_api.messages.Text` (both languages) is answered with it whatever the
catalogue says: it knows more than the code does (the H5 lookup's "no match" names both inputs).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, request
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
from miniapp_api.messages import (
    CATALOGUE,
    CONTENT_LANGUAGE,
    DetailKind,
    Language,
    Text,
    negotiate,
)
from miniapp_api.overload.rejection import Rejected, Rejection, channel_of
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
        message: str | Text,
        *,
        code: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message.en if isinstance(message, Text) else message)
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
    """503 with the overload contract (its code is the rejection's reason and code)."""

    status, code = 503, "service_unavailable"
    base_seconds = 5.0  # before jitter

    @classmethod
    def retry_later(cls, message: str, *, code: str, base_seconds: float) -> ServiceUnavailable:
        """503 with a ``Retry-After`` of about ``base_seconds`` (jittered) and the overload
        contract's ``detail``; ``message`` is for the log: the answer speaks the catalogue's."""
        error = cls(message, code=code)
        error.base_seconds = base_seconds
        return error


# Werkzeug's own errors (an unknown route or method, a malformed request it parsed) as codes of
# ours; a status not here keeps its status and gets the generic code of its class.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    500: "internal_error",
}


def language() -> Language:
    """The language of the current request's answer."""
    return negotiate(request.headers.get("Accept-Language"))


def message_for(code: str, language: Language, said: str | Text | None = None) -> str:
    """``code``'s message in ``language``; ``said`` is the raise site's sentence (English, or
    both languages)."""
    if isinstance(said, Text):
        return said.in_(language)
    found = CATALOGUE.get(code)
    if found is None:  # tests/unit/test_messages.py keeps this from happening
        return said or code
    if language == "en":
        return said if said and found.specific else found.en
    return found.zh


def error_response(
    status: int,
    code: str,
    said: str | Text | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error shape, its message in the caller's language."""
    spoken = language()
    found = CATALOGUE.get(code)
    if detail is None and found is not None and found.detail is DetailKind.VALIDATION:
        detail = []  # a validation error always lists its problems, if none
    body = {"code": code, "message": message_for(code, spoken, said), "detail": detail}
    response = Response(
        current_app.json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Content-Language"] = CONTENT_LANGUAGE[spoken]
    response.vary.add("Accept-Language")
    return response


def _channel_error_response(error: ChannelError) -> Response | None:
    """A platform refused what the client gave us (4xx) or our credentials (502); ``None`` for
    anything else (the overload contract answers it)."""
    detail = {"platform": error.platform, "platform_code": error.platform_code}
    if isinstance(error, InvalidCode):
        return error_response(400, "invalid_code", None, detail)
    if isinstance(error, InvalidPayload):
        return error_response(400, "invalid_payload", str(error), detail)
    if isinstance(error, SubscriptionRefused):
        return error_response(409, "subscription_refused", str(error), detail)
    if isinstance(error, ChannelMisconfigured):
        log.error("platform %s rejected our credentials: %s", error.platform, error)
        return error_response(502, "platform_misconfigured", None, detail)
    # Throttling and outages (RateLimited, ChannelUnavailable) and anything else unexpected are
    # answered with the overload contract by the handler below.
    return None


def _platform_trouble(error: ChannelError) -> Rejection:
    """Throttling and outages are overload too (README, "Overload"): the same contract."""
    busy = isinstance(error, RateLimited)
    retry = error.retry_after if isinstance(error, RateLimited) else 2.0
    extra = {"platform": error.platform, "platform_code": error.platform_code}
    return Rejection(503, "platform_throttled" if busy else "platform_unavailable", retry, extra)


def register_error_handlers(app: Flask, rejections: RejectionRenderer) -> None:
    """Every error leaves through here, in the one shape."""

    def rejection_response(rejection: Rejection) -> Response:
        channel = channel_of(request.environ)
        status, headers, body = rejections.render(rejection, channel, language())
        return Response(body, status=status, headers=headers)

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        if isinstance(error, ServiceUnavailable):
            # One shape for every 503: the overload contract, the code as its reason.
            return rejection_response(Rejection(503, error.code, error.base_seconds))
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
        answered = _channel_error_response(error)
        if answered is not None:
            return answered
        log.warning(
            "platform %s failed: %s (%s)", error.platform, type(error).__name__, error.platform_code
        )
        return rejection_response(_platform_trouble(error))

    @app.errorhandler(RequestEntityTooLarge)
    def handle_body_too_large(error: RequestEntityTooLarge) -> Response:
        # Raised by Werkzeug before the body is read when Content-Length says too much, or
        # as soon as a chunked body passes the limit: nothing more is buffered.
        limit = request.max_content_length
        return error_response(
            413, "body_too_large", None, {"max_bytes": limit} if limit is not None else None
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        # Never Werkzeug's description: it is English prose about its own page.
        status = error.code or 500
        code = HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        response = error_response(status, code)
        if status == 405 and error.response is None:
            valid = getattr(error, "valid_methods", None)
            if valid:
                response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error")
