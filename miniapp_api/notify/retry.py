"""What a failed platform call does to an outbox row: retry with backoff, give up, or stop.

The policy half of the push worker (:mod:`miniapp_api.notify.worker`), free of I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Literal

import redis
import requests
from urllib3.exceptions import NewConnectionError

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    RateLimited,
    SubscriptionRefused,
)
from miniapp_api.settings import NotifySettings

MAX_BACKOFF_SECONDS = 3600.0


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"
    NO_SUBSCRIPTION = "no_subscription"
    FAILED = "failed"


@dataclass(frozen=True)
class Decision:
    """What a platform call's outcome does to the row and to the acceptance it spent."""

    status: Status
    last_error: str | None = None
    # "forgotten": the platform says none is left, so none is (WeChat 43101).
    acceptance: Literal["spent", "given_back", "forgotten"] = "spent"
    retry_in: timedelta | None = None


def decide(error: BaseException | None, attempts: int, settings: NotifySettings) -> Decision:
    """The outcome of the ``attempts``-th call, which raised ``error`` (None: it succeeded)."""
    if error is None:
        return Decision(Status.SENT)
    if isinstance(error, SubscriptionRefused):
        return Decision(Status.REFUSED, describe(error), "forgotten")
    if not isinstance(error, ChannelError) or not delivery_ruled_out(error):
        return Decision(Status.FAILED, "delivery unknown: " + describe(error))
    transient = isinstance(error, RateLimited | ChannelUnavailable | ChannelMisconfigured)
    if not transient or attempts >= settings.max_attempts:
        return Decision(Status.FAILED, describe(error), "given_back")
    floor = error.retry_after if isinstance(error, RateLimited) else 0.0
    wait = backoff(attempts, settings.backoff_base_seconds, floor)
    return Decision(Status.PENDING, describe(error), "given_back", wait)


def backoff(attempts: int, base_seconds: float, retry_after: float = 0.0) -> timedelta:
    """``base * 2**(attempts - 1)`` plus up to 50% jitter, at least ``retry_after``, capped.

    ``attempts`` counts the calls made so far, the failed one included: the first retry waits
    about ``base``, the next about ``2 * base``, and so on.
    """
    exponent = min(max(attempts - 1, 0), 30)
    seconds = base_seconds * 2**exponent * (1 + random.random() / 2)
    return timedelta(seconds=min(max(seconds, retry_after), MAX_BACKOFF_SECONDS))


def delivery_ruled_out(error: ChannelError) -> bool:
    """True when the platform certainly did not deliver the message whose call raised ``error``.

    It did not when it answered with an error code (``platform_code``: a WeChat errcode, the
    code/sub_code of a verified Alipay answer), when it refused our credentials, or when the
    request never left: no connection was established, or the access token could not be read
    from Redis. Anything else (read timeout, reset, HTTP 5xx, an unverifiable answer) may have
    been delivered.
    """
    if error.platform_code is not None or isinstance(error, ChannelMisconfigured):
        return True
    # The adapters raise ``from None``: that hides the transport error from tracebacks but keeps
    # it as ``__context__``. Only its type is looked at.
    cause = error.__context__
    if isinstance(cause, requests.ConnectTimeout | redis.RedisError):
        return True
    if isinstance(cause, requests.ConnectionError) and cause.args:
        return isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)
    return False


def describe(error: BaseException) -> str:
    """For ``last_error``. The adapters' messages carry no credentials or personal data."""
    if isinstance(error, ChannelError):
        return f"{type(error).__name__} ({error.platform_code}): {error}"[:500]
    return f"{type(error).__name__} (unexpected error)"
