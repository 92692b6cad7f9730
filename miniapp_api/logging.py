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
    def filter(self, record: logging.LogRecord) -> bool:
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


def register_request_logging(app: Flask) -> None:
    """Give each request an id (ours or a sane client one), echo it, log one access line."""
    access = logging.getLogger("miniapp_api.access")

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID_OK.fullmatch(incoming) else uuid.uuid4().hex
        g.started_at = time.perf_counter()

    @app.after_request
    def log_access(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        elapsed_ms = (time.perf_counter() - g.get("started_at", time.perf_counter())) * 1000
        access.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(elapsed_ms, 1)},
        )
        return response
