"""The rejection contract (README, "Overload"): fast, small, and useful.

``429`` means "your quota", ``503`` means "the system is shedding". Either way the resident gets
a jittered ``Retry-After`` and, in the common error shape, what works *right now*:

- ``saved_code``: the registration code saved on the phone or screenshotted works offline;
- ``other_platform``: the other mini-program (WeChat or Alipay) and its current status;
- ``h5_lookup``: the browser page that needs neither platform;
- ``push``: the result will be pushed when it arrives, so there is nothing to refresh.

Building one touches no database, renders no template and stays well under 1 KB: the
alternatives are JSON fragments cached per (channel, platform status).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from miniapp_api.security.session_tokens import bearer_token, platform_hint

PLATFORM_NAMES = {"wechat": "WeChat", "alipay": "Alipay"}
# The platforms a session token may name that are channels of their own (staff: "other").
TOKEN_CHANNELS = frozenset({"wechat", "alipay"})

SAVED_CODE = {
    "kind": "saved_code",
    "offline": True,
    "message": "Your registration code works offline: show the saved code or a screenshot "
    "of it at the sampling site.",
}
PUSH = {
    "kind": "push",
    "message": "No need to refresh: your result is sent to you as a message when it arrives.",
}

MESSAGES = {
    "user_quota": "Too many requests from you in a short time.",
    "too_many_failures": "Too many wrong passwords for this login or from your network; wait "
    "before trying again.",
    "channel_quota": "This mini-program is very busy right now.",
    "site_quota": "Your sampling site has sent very many requests in a short time; scans "
    "you made are kept, send the rest again after a moment.",
    "system_quota": "The service is very busy right now.",
    "local_concurrency": "The service is very busy right now.",
    "queue_full": "The service is very busy right now.",
    "redis_unavailable": "The service is partly unavailable right now.",
    "database_unavailable": "The service is partly unavailable right now.",
    "read_only": "Changes are paused for a while; viewing still works.",
    "class_quota": "The service is very busy right now.",
    "cache_only": "Results can only be shown from the fast copy right now, and yours is not "
    "in it yet.",
    "waiting_room": "Many people are changing their details right now: you have a place in "
    "the queue. Send the request again, with your ticket, after the estimated wait.",
    "platform_throttled": "The platform is busy. You are not logged out: sessions and saved "
    "codes keep working.",
    "platform_unavailable": "The platform is not answering. You are not logged out: sessions "
    "and saved codes keep working.",
    # The edge's answer when a node failed mid-request (502) or did not answer in time (504).
    "node_failed": "The server handling your request stopped before answering. Please try "
    "again in a moment.",
}
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
}


def jittered_retry_after(base_seconds: float) -> int:
    """Seconds to wait, spread by up to +50% so rejected clients do not return in step."""
    return max(1, round(base_seconds * (1 + random.random() / 2)))


@dataclass(frozen=True)
class Rejection:
    """Why a request was refused; rendered by :func:`render`."""

    status: int  # 429 or 503 (the edge also 502 and 504)
    reason: str  # a key of MESSAGES
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


def render(rejection: Rejection, context: Context) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the rejection."""
    retry = jittered_retry_after(rejection.retry_after)
    status = tuple(sorted(context.platform_status.items()))
    alternatives = _alternatives_json(
        context.channel, context.platforms, status, context.lookup_url
    )
    extra = "".join(
        f", {json.dumps(k)}: {json.dumps(v)}" for k, v in (rejection.extra or {}).items()
    )
    body = (
        f'{{"code": "{rejection.code}", "message": {json.dumps(MESSAGES[rejection.reason])}, '
        f'"detail": {{"reason": "{rejection.reason}", "retry_after": {retry}{extra}, '
        f'"alternatives": {alternatives}}}}}'
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Retry-After": str(retry),
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
    }
    return rejection.status, headers, body


def alternatives(
    channel: str, platforms: Iterable[str], platform_status: Mapping[str, str], lookup_url: str
) -> list[dict[str, Any]]:
    """What works instead, most useful first."""
    found: list[dict[str, Any]] = [SAVED_CODE]
    for platform in platforms:
        if platform == channel:
            continue
        status = platform_status.get(platform, "ok")
        name = PLATFORM_NAMES.get(platform, platform)
        found.append(
            {
                "kind": "other_platform",
                "platform": platform,
                "status": status,
                "message": f"The {name} mini-program shows the same code and results"
                + (" and is working normally." if status == "ok" else f" but is {status} too."),
            }
        )
    if channel != "h5":
        found.append(
            {
                "kind": "h5_lookup",
                "url": lookup_url,
                "message": "Look up results in any browser with a screenshot of your "
                "registration code and your ID number.",
            }
        )
    found.append(PUSH)
    return found


@lru_cache(maxsize=256)
def _alternatives_json(
    channel: str,
    platforms: tuple[str, ...],
    platform_status: tuple[tuple[str, str], ...],
    lookup_url: str,
) -> str:
    return json.dumps(alternatives(channel, platforms, dict(platform_status), lookup_url))


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
