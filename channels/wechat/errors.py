"""The one table from WeChat errcodes to :mod:`channels.base` exceptions (STYLE rule 8)."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    InvalidCode,
    RateLimited,
    SubscriptionRefused,
)

ERRCODES: Mapping[int, type[ChannelError]] = {
    40029: InvalidCode,  # invalid code (unknown, expired, or used)
    40163: InvalidCode,  # code been used
    41008: InvalidCode,  # missing code
    45009: RateLimited,  # daily quota reached
    45011: RateLimited,  # per-minute quota reached
    -1: ChannelUnavailable,  # system busy
    43101: SubscriptionRefused,  # user refused, or spent, the one-time subscription
    40013: ChannelMisconfigured,  # invalid appid
    40125: ChannelMisconfigured,  # invalid appsecret
    41002: ChannelMisconfigured,  # appid missing
    41004: ChannelMisconfigured,  # appsecret missing
}

# The access token is invalid, not the latest, or expired: refresh once and retry; these never
# reach callers. (On the token endpoint itself 40001 means a wrong secret: see token_fetch_error.)
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


def error_for(errcode: int, errmsg: str, api: str) -> ChannelError:
    """The exception for a non-zero errcode of ``api``; unknown codes are ChannelUnavailable.

    ``errmsg`` is WeChat's own text, which never echoes credentials; it is truncated anyway.
    """
    kind = ERRCODES.get(errcode, ChannelUnavailable)
    return kind(f"wechat {api} failed: {errcode} {errmsg[:80]}", platform_code=errcode)


def token_fetch_error(errcode: int, errmsg: str) -> ChannelError:
    """The exception for a failed token fetch: credential errors there mean misconfiguration."""
    if errcode in TOKEN_ERRCODES:
        return ChannelMisconfigured(
            f"wechat token failed: {errcode} {errmsg[:80]}", platform_code=errcode
        )
    return error_for(errcode, errmsg, "token")
