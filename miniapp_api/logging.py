"""Structured JSON logs with a request id, and a last line of defence against personal data.

The app never logs secrets or personal data on purpose; :class:`RedactingFilter` masks anything
that still looks like an ID, passport, permit or mobile number, or a platform user id, before a
record is written: in its message, its arguments, its ``extra`` fields and its traceback.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
HANDLER_NAME = "miniapp-json"
# Liveness, readiness and Prometheus scrapes (ops/views.py): every few seconds from HAProxy and
# Prometheus, so they write no access line unless [LOGGING] PROBES, or they failed (400 and up:
# a 503 from /readyz, a scrape without its token).
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
GUNICORN_LOGGERS = ("gunicorn.error", "gunicorn.access")
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._-]{8,64}")

# Every shape in one pattern, so a clean line costs one scan; it is tried only where a token
# starts (the look-behind), then only the branches of that first character. Numbers and
# passports must not touch a letter or digit on either side: tube numbers (T + 12 digits), hex
# request ids, 10-digit Unix times and 14-digit tube serials stay whole. Groups may be split by
# one space or hyphen, as people copy them.
_PERSONAL = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"(?=\d)(?:"
    # Mainland ID, 18 characters: 6-8-4 or 6-4-4-4 when grouped.
    r"(?P<id18>\d{6}[ -]?\d{4}[ -]?\d{4}[ -]?\d{3}[\dXx])(?![0-9A-Za-z])"
    # The first-generation ID card, 15 digits (6-6-3).
    r"|(?P<id15>\d{6}[ -]?\d{6}[ -]?\d{3})(?![0-9A-Za-z])"
    # Alipay user_id (channels/alipay/adapter.py).
    r"|(?P<alipay>2088\d{12})(?![0-9A-Za-z])"
    # Mainland mobile, grouped 3-4-4 or not, with 86 in front or not.
    r"|(?P<phone>(?:86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![0-9A-Za-z])"
    # Alipay open_id: 0 and 46 letters and digits (its documentation's example).
    r"|(?<![_-])(?P<open_id>0[0-9A-Za-z]{46})(?![0-9A-Za-z_-])"
    r")"
    r"|(?P<phone_plus>\+86[ -]?1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![0-9A-Za-z])"
    # Passports (E/G + 8 digits, EA + 7, ...) and HK/Macau permits (C?/H/M + 8 or 10 digits),
    # capitals only as they are printed: a lowercase hex request id ("...-c0703504") is not one.
    r"|(?P<passport>[A-Z]{1,2}\d{7,8}|[HM]\d{10})(?![0-9A-Za-z])"
    # WeChat openid / unionid: o + 27 or 28 base64url characters, at least one capital or digit
    # (so a 28-letter snake_case name is not one).
    r"|(?<![_-])(?P<openid>o(?=[0-9A-Za-z_-]{0,27}[A-Z0-9])[0-9A-Za-z_-]{27,28})"
    r"(?![0-9A-Za-z_-])"
    r")"
)
_SEPARATORS = str.maketrans("", "", " -")
# A smaller int cannot be a phone, ID or Alipay number (11 digits and more).
_SMALLEST_PERSONAL_INT = 10**10
_TRACEBACKS = logging.Formatter()  # formats exc_info as every logging.Formatter does


def _mask(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in ("openid", "open_id"):  # base64url: its hyphens are part of it
        found = match.group()
        return found[0] + "*" * (len(found) - 5) + found[-4:]
    found = match.group().translate(_SEPARATORS)
    if kind in ("phone", "phone_plus"):  # keep +86, then 138****5678
        prefix, number = found[:-11], found[-11:]
        return prefix + number[:3] + "****" + number[-4:]
    if kind == "passport":
        letters = found.rstrip("0123456789")
        return letters + "*" * (len(found) - len(letters) - 2) + found[-2:]
    keep = 4 if kind == "alipay" else 3  # 2088 says only "Alipay"; ID: the province and city
    return found[:keep] + "*" * (len(found) - keep - 4) + found[-4:]


def redact(text: str) -> str:
    """``text`` with every ID, passport, phone number and platform user id masked."""
    return _PERSONAL.sub(_mask, text)


def _redacted(value: object) -> object:
    """``value`` with its strings redacted (inside lists, tuples and dicts too); the same
    object when there was nothing to mask."""
    if isinstance(value, str):
        return redact(value)
    if type(value) is int:
        if value < _SMALLEST_PERSONAL_INT:  # a status, a count
            return value
        masked = redact(str(value))
        return masked if "*" in masked else value
    if type(value) is float:  # a duration
        return value
    if isinstance(value, list | tuple):
        items = [_redacted(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        changed = {k: new for k, v in value.items() if (new := _redacted(v)) is not v}
        return {**value, **changed} if changed else value
    return value


def _redacted_args(args: tuple[object, ...] | Mapping[str, object]) -> Any:
    """The arguments with their strings redacted, of the same kind (``%d`` still gets an int:
    numbers are left to the formatted message)."""
    if isinstance(args, tuple):
        items = tuple([redact(a) if isinstance(a, str) else a for a in args])
        return args if items == args else items
    changed = {k: new for k, v in args.items() if isinstance(v, str) and (new := redact(v)) != v}
    if not changed:
        return args
    # A copy of the caller's mapping, of its own class: gunicorn's access atoms answer "-" for
    # a missing key, which a plain dict would turn into a KeyError.
    clean = copy.copy(args) if isinstance(args, dict) else dict(args)
    clean.update(changed)
    return clean


class RedactingFilter(logging.Filter):
    """Masks personal data in a record's message, arguments, ``extra`` fields, traceback and
    stack before any handler writes it (see :func:`redact`)."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = _redacted_args(record.args)
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        fields = record.__dict__
        for key in fields.keys() - self._STANDARD:
            value = fields[key]
            clean = redact(value) if type(value) is str else _redacted(value)  # str: the usual
            if clean is not value:
                fields[key] = clean
        if record.exc_info and not record.exc_text:
            # Formatted here, as logging.Formatter would, so every handler writes this text.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_gunicorn_loggers() -> None:
    """Give gunicorn's loggers the filter too: they write through handlers of their own
    (``config/gunicorn.conf.py``), never through the root handler of :func:`build_handler`.

    On the loggers, not their handlers, so that whatever handler gunicorn or its configuration
    attaches (an ``accesslog``, syslog) only ever sees redacted records.
    """
    for name in GUNICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RequestIdFilter(logging.Filter):
    """The request's id on every record: Flask's ``g``, or what the caller passed in ``extra``
    (the admission gate answers some requests before Flask)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, request id, message,
    extras."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "request_id"}
    # The last second formatted, and its text: most lines share their second with the one
    # before. One tuple, replaced whole, so threads never see a second beside another's text.
    _second: tuple[int, str] = (-1, "")

    def timestamp(self, created: float) -> str:
        """``created`` (Unix time) in ISO 8601, UTC, to the millisecond:
        ``2026-12-07T04:12:33.123+00:00``."""
        # Milliseconds from the one float, truncated as logging's own msecs are: never a
        # ".1000", and the second and its milliseconds always agree.
        whole, millis = divmod(int(created * 1000), 1000)
        second = self._second
        if second[0] != whole:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            second = self._second = (whole, text)
        return f"{second[1]}.{millis:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            # RedactingFilter leaves the redacted text in exc_text; without it, redact here.
            entry["exc"] = redact(record.exc_text or self.formatException(record.exc_info))
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
    """Install the JSON handler on the root logger once, and the redaction on gunicorn's own
    loggers (they do not propagate to the root: gunicorn.conf.py gives them handlers)."""
    root = logging.getLogger()
    if not any(h.get_name() == HANDLER_NAME for h in root.handlers):
        root.addHandler(build_handler(sys.stderr))
    root.setLevel(level)
    quiet_noisy_loggers()
    redact_gunicorn_loggers()


_access = logging.getLogger("miniapp_api.access")


def request_id_from(incoming: str) -> str:
    """The client's ``X-Request-ID`` if it is sane, else a new one."""
    # 32 random hex digits, as uuid4().hex gives, without building a UUID on every request.
    return incoming if _REQUEST_ID_OK.fullmatch(incoming) else os.urandom(16).hex()


# Paths that are credentials themselves: a code image's signed link opens the image (and the
# code token in it) for minutes without a session (codes/image_links.py).
SIGNED_LINKS = "/api/v1/code-images/"


def _without_signature(path: str) -> str:
    """``/api/v1/code-images/<resident>.<code>.<expiry>.<MAC>.png`` with the MAC masked: the
    line still says whose image was fetched, and nobody can open it from the log."""
    signed, dot, suffix = path[len(SIGNED_LINKS) :].rpartition(".")
    head, _, _mac = signed.rpartition(".")
    return f"{SIGNED_LINKS}{head}.***{dot}{suffix}" if head else f"{SIGNED_LINKS}***"


def log_access(
    method: str,
    path: str,
    *,
    status: int,
    started: float,
    client: str,
    request_id: str | None = None,
) -> None:
    """The one access line of a request (``started``: its ``time.perf_counter()``; ``client``:
    its address once trusted proxies are seen through, as the rate limits count it)."""
    if path.startswith(SIGNED_LINKS):
        path = _without_signature(path)
    extra: dict[str, Any] = {
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "client": client,
        "method": method,
        "path": path,
    }
    if request_id is not None:
        extra["request_id"] = request_id
    # Formatted here, not as arguments: the redaction then scans the message once (and the
    # path field once more), not the arguments too, on the one line every request writes.
    _access.info(f"{method} {path} {status}", extra=extra)


def register_request_logging(app: Flask, *, probes: bool = False) -> None:
    """Give each request an id (ours or a sane client one), echo it, log one access line;
    ``probes``: log the answered probes of :data:`PROBE_PATHS` too (failed ones always are)."""

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        g.started_at = time.perf_counter()

    @app.after_request
    def after(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        status = response.status_code
        if not probes and status < 400 and request.path in PROBE_PATHS:
            return response
        log_access(
            request.method,
            request.path,
            status=status,
            started=g.get("started_at", time.perf_counter()),
            # ProxyFix (create_app, [APP] TRUSTED_PROXIES) has already put the client from
            # X-Forwarded-For here when a trusted proxy sent the request.
            client=request.remote_addr or "-",
        )
        return response
