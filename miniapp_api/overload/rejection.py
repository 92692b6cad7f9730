"""The rejection contract (README, "Overload"): fast, small, and useful.

``429`` means "your quota", ``503`` means "the system is shedding". Either way the resident gets
a jittered ``Retry-After`` and, in the common error shape, what works *right now*:

- ``saved_code``: the registration code saved on the phone or screenshotted works offline;
- ``other_platform``: the other mini-program (WeChat or Alipay) and its current status;
- ``h5_lookup``: the browser page that needs neither platform;
- ``push``: the result will be pushed when it arrives, so there is nothing to refresh.

Building one touches no database, renders no template and stays well under 1 KB: the
alternatives are JSON fragments cached per (channel, platform status, language). Messages are
in Simplified Chinese or English (``miniapp_api/messages``), as the caller's ``Accept-Language``
picks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from miniapp_api.messages import rejections as words
from miniapp_api.messages.language import CONTENT_LANGUAGE, DEFAULT, Language
from miniapp_api.security.session_tokens import bearer_token, platform_hint

# The platforms a session token may name that are channels of their own (staff: "other").
TOKEN_CHANNELS = frozenset({"wechat", "alipay"})

# The error ``code`` of each reason; every other reason is system shedding, "overloaded".
CODES = {
    "user_quota": "rate_limited",
    "too_many_failures": "too_many_failures",
    "read_only": "read_only",
    "cache_only": "cache_only",
    "waiting_room": "waiting_room",
    "redis_unavailable": "temporarily_unavailable",
    "database_unavailable": "temporarily_unavailable",
    "node_failed": "temporarily_unavailable",
    "platform_throttled": "platform_throttled",
    "platform_unavailable": "platform_unavailable",
    # 503s raised by services (``errors.ServiceUnavailable``): the reason is their code.
    "results_unavailable": "results_unavailable",
    "lab_auth_unavailable": "lab_auth_unavailable",
    "service_unavailable": "service_unavailable",
}


def jittered_retry_after(base_seconds: float) -> int:
    """Seconds to wait, spread by up to +50% so rejected clients do not return in step."""
    return max(1, round(base_seconds * (1 + random.random() / 2)))


@dataclass(frozen=True)
class Rejection:
    """Why a request was refused; rendered by :func:`render`."""

    status: int  # 429 or 503 (the edge also 502 and 504)
    reason: str  # a key of messages.rejections.REASONS
    retry_after: float  # base seconds, before jitter
    extra: Mapping[str, Any] | None = None  # more detail fields (e.g. a waiting-room ticket)

    @property
    def code(self) -> str:
        return CODES.get(self.reason, "overloaded")


class Rejected(Exception):
    """Raised by a service to refuse with this contract (``miniapp_api.errors`` renders it)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


@dataclass(frozen=True)
class Context:
    """What the alternatives depend on, all known without I/O."""

    channel: str  # the caller's channel: wechat, alipay, h5, other
    platforms: tuple[str, ...]  # the platforms enabled here
    platform_status: Mapping[str, str]
    lookup_url: str
    language: Language = DEFAULT  # of the message and the alternatives (Accept-Language)


def render(rejection: Rejection, context: Context) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the rejection."""
    retry = jittered_retry_after(rejection.retry_after)
    status = tuple(sorted(context.platform_status.items()))
    language = context.language
    alternatives = _alternatives_json(
        context.channel, context.platforms, status, context.lookup_url, language
    )
    extra = "".join(
        f", {json.dumps(k)}: {json.dumps(v)}" for k, v in (rejection.extra or {}).items()
    )
    message = _message_json(rejection.reason, language)
    body = (
        f'{{"code": "{rejection.code}", "message": {message}, '
        f'"detail": {{"reason": "{rejection.reason}", "retry_after": {retry}{extra}, '
        f'"alternatives": {alternatives}}}}}'
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Retry-After": str(retry),
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "Content-Language": CONTENT_LANGUAGE[language],
    }
    return rejection.status, headers, body


def alternatives(
    channel: str,
    platforms: Iterable[str],
    platform_status: Mapping[str, str],
    lookup_url: str,
    language: Language = DEFAULT,
) -> list[dict[str, Any]]:
    """What works instead, most useful first."""
    found: list[dict[str, Any]] = [
        {"kind": "saved_code", "offline": True, "message": words.SAVED_CODE.in_(language)}
    ]
    for platform in platforms:
        if platform == channel:
            continue
        status = platform_status.get(platform, "ok")
        found.append(
            {
                "kind": "other_platform",
                "platform": platform,
                "status": status,
                "message": words.other_platform_message(platform, status, language),
            }
        )
    if channel != "h5":
        found.append(
            {"kind": "h5_lookup", "url": lookup_url, "message": words.H5_LOOKUP.in_(language)}
        )
    found.append({"kind": "push", "message": words.PUSH.in_(language)})
    return found


# Not ASCII-escaped: Chinese as UTF-8 takes half the bytes of \uXXXX (bodies stay under 1 KB).
@lru_cache(maxsize=512)
def _alternatives_json(
    channel: str,
    platforms: tuple[str, ...],
    platform_status: tuple[tuple[str, str], ...],
    lookup_url: str,
    language: Language,
) -> str:
    found = alternatives(channel, platforms, dict(platform_status), lookup_url, language)
    return json.dumps(found, ensure_ascii=False)


@lru_cache(maxsize=128)
def _message_json(reason: str, language: Language) -> str:
    return json.dumps(words.reason_message(reason, language), ensure_ascii=False)


def channel_of(environ: Mapping[str, Any]) -> str:
    """``wechat``, ``alipay``, ``h5`` or ``other``: the platform the caller's session token
    names, else the login or lookup path; never a header or referer the client chooses.

    The channel picks the channel budget, the alternatives (the other platform, not the
    caller's own) and labels the admission counters. A token naming another platform than its
    session's finds no session (its hash is the key: ``security/session_tokens.py``).
    """
    return channel_for(bearer_token(environ), environ)


def channel_for(token: str | None, environ: Mapping[str, Any]) -> str:
    """:func:`channel_of` for a bearer ``token`` already read from ``environ``."""
    platform = platform_hint(token) if token else None
    if platform in TOKEN_CHANNELS:
        return str(platform)
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith("/api/v1/auth/wechat"):
        return "wechat"
    if path.startswith("/api/v1/auth/alipay"):
        return "alipay"
    if path in ("/lookup", "/api/v1/lookup"):
        return "h5"
    return "other"
