"""The shape of our session tokens, read without I/O: ``<account id>.<platform>.<secret>``.

The secret is 32 random bytes (URL-safe base64, no dots). The two names in front are routing
hints that the admission gate reads before any session is: the account id picks the Redis slot
holding the session, the quota and the account's screens (one round trip), and the platform
(``wechat``, ``alipay``, ``staff``) is the caller's channel: which budget the request draws on,
what a refusal points at instead, the label of the counters. Neither is trusted by itself: the
session's key is the SHA-256 of the whole token (``miniapp_api/sessions.py``), so a token with
another account or platform in front finds no session and is answered 401. The channel is thus
the session's own, never a header the client chooses (``X-Client-Channel`` was, until the
security review of issue 12).

Tokens issued before the platform was added (``<account id>.<secret>``) keep working until
they expire; their requests are given a channel by path alone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

# What may stand before the first dot: public account ids (``a_...``) and staff ids (digits).
# Braces would break the hash tag; anything else is treated as a token of an old format.
_ACCOUNT_HINT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLATFORM = re.compile(r"[a-z]{1,16}")


def new_token(account_id: str, platform: str) -> str:
    """A fresh token naming ``account_id`` and ``platform`` in front of its secret."""
    if not _ACCOUNT_HINT.fullmatch(account_id):
        raise ValueError(f"cannot put account id {account_id!r} in a token")
    if not _PLATFORM.fullmatch(platform):
        raise ValueError(f"cannot put platform {platform!r} in a token")
    return f"{account_id}.{platform}.{secrets.token_urlsafe(32)}"


def account_hint(token: str) -> str | None:
    """The account id a token names (unverified), or ``None`` for an oldest-format token."""
    account, dot, secret = token.partition(".")
    if not dot or not secret or not _ACCOUNT_HINT.fullmatch(account):
        return None
    return account


def platform_hint(token: str) -> str | None:
    """The platform a token names (unverified), or ``None`` for a token without one."""
    if account_hint(token) is None:
        return None
    platform, dot, secret = token.partition(".")[2].partition(".")
    if not dot or not secret or not _PLATFORM.fullmatch(platform):
        return None
    return platform


def bearer_token(environ: Mapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or ``None``."""
    scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
