"""Structured JSON logs with a request id, and a last line of defence against personal data.

The app never logs secrets or personal data on purpose; :class:`RedactingFilter` masks anything
that still looks like a mainland ID number or a mobile number before a record is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
HANDLER_NAME = "miniapp-json"
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._-]{8,64}")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{3})\d{11}(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)((?:86)?1[3-9]\d)\d{4}(\d{4})(?!\d)")


def redact(text: str) -> str:
    text = _ID_NUMBER.sub(r"\1***********\2", text)
    return _MOBILE.sub(r"\1****\2", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RequestIdFilter(logging.Filter):
    """The request's id on every record: Flask's ``g``, or what the caller passed in ``extra``
    (the admission gate answers some requests before Flask)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message, extras."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def build_handler(stream: TextIO) -> logging.Handler:
    """The one way our log lines are written: JSON, with request id, redacted."""
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    return handler


def quiet_noisy_loggers() -> None:
    """Loggers whose chatty levels would write what we must not log.

    urllib3 logs whole request URLs at DEBUG, and WeChat's API takes the app secret, login codes
    and access tokens in the query string; werkzeug's access line repeats ours without the
    request id.
    """
    for name in ("urllib3", "werkzeug"):
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str) -> None:
    """Install the JSON handler on the root logger once (gunicorn's loggers propagate to it)."""
    root = logging.getLogger()
    if any(h.get_name() == HANDLER_NAME for h in root.handlers):
        root.setLevel(level)
        quiet_noisy_loggers()
        return
    root.addHandler(build_handler(sys.stderr))
    root.setLevel(level)
    quiet_noisy_loggers()


_access = logging.getLogger("miniapp_api.access")


def request_id_from(incoming: str) -> str:
    """The client's ``X-Request-ID`` if it is sane, else a new one."""
    return incoming if _REQUEST_ID_OK.fullmatch(incoming) else uuid.uuid4().hex


def log_access(
    method: str, path: str, status: int, started: float, request_id: str | None = None
) -> None:
    """The one access line of a request (``started``: its ``time.perf_counter()``)."""
    extra: dict[str, Any] = {
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if request_id is not None:
        extra["request_id"] = request_id
    _access.info("%s %s %s", method, path, status, extra=extra)


def register_request_logging(app: Flask) -> None:
    """Give each request an id (ours or a sane client one), echo it, log one access line."""

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        g.started_at = time.perf_counter()

    @app.after_request
    def after(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        started = g.get("started_at", time.perf_counter())
        log_access(request.method, request.path, response.status_code, started)
        return response
