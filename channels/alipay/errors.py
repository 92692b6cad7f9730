"""The one table from Alipay gateway answers to :mod:`channels.base` exceptions (STYLE rule 8).

Alipay answers ``code`` (gateway level: 10000 ok, 20000 unavailable, 20001 token, 40001 missing
argument, 40002 invalid argument, 40004 business failure, 40006 permission) and ``sub_code`` (the
precise reason). ``sub_code`` decides when we know it; otherwise ``code`` does.
"""

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

SUCCESS = "10000"

# Alipay asks callers to retry 20000 ("Service Currently Unavailable") shortly; during a login
# storm it is how the gateway sheds load, so the app answers it as throttling (README, "Overload").
RETRY_AFTER_SECONDS = 2.0

SUB_CODES: Mapping[str, type[ChannelError]] = {
    "isv.code-invalid": InvalidCode,  # auth code unknown, used, expired, or for another app
    "isv.invalid-auth-code": InvalidCode,
    "isv.refresh-token-invalid": InvalidCode,
    "isv.refresh-token-time-out": InvalidCode,
    "isv.refreshed-token-invalid": InvalidCode,
    "aop.invalid-auth-token": InvalidCode,  # the user's access token is gone: log in again
    "aop.auth-token-time-out": InvalidCode,
    "isv.invalid-app-id": ChannelMisconfigured,
    "isv.missing-app-id": ChannelMisconfigured,
    "isv.invalid-signature": ChannelMisconfigured,  # our private key is not the registered one
    "isv.missing-signature": ChannelMisconfigured,
    "isv.invalid-signature-type": ChannelMisconfigured,
    "isv.missing-signature-config": ChannelMisconfigured,
    "isv.insufficient-isv-permissions": ChannelMisconfigured,
    "isv.app-unauthorized": ChannelMisconfigured,
    "isv.invalid-timestamp": ChannelMisconfigured,  # our clock or zone: must be Beijing time
    # alipay.open.app.mini.templatemessage.send: the user holds no (unspent) subscription to
    # this template. Never retried.
    "USER_TEMPLATE_ILLEGAL": SubscriptionRefused,
    # alipay.user.certify.open.query: no such certify_id (never issued, to another app, or
    # past the months Alipay keeps them)
    "OPEN_CERTIFY_BILL_NOT_EXIST": InvalidCode,
}

CODES: Mapping[str, type[ChannelError]] = {
    "20000": RateLimited,
    "20001": InvalidCode,
    "40006": ChannelMisconfigured,
}


def error_for(code: str | None, sub_code: str | None, sub_msg: str, api: str) -> ChannelError:
    """The exception for a gateway answer that is not a success; unknown ones are unavailable.

    ``sub_msg`` is Alipay's own text, which never echoes credentials; it is truncated anyway.
    """
    kind = SUB_CODES.get(sub_code or "") or CODES.get(code or "") or ChannelUnavailable
    message = f"alipay {api} failed: {code} {sub_code or ''} {sub_msg[:80]}".rstrip()
    platform_code = sub_code or code
    if kind is RateLimited:
        return RateLimited(message, platform_code=platform_code, retry_after=RETRY_AFTER_SECONDS)
    return kind(message, platform_code=platform_code)
