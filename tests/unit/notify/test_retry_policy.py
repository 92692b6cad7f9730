"""What a platform call's outcome does: send, refuse, retry (giving the acceptance back), fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from channels.base import (
    ChannelError,
    ChannelMisconfigured,
    ChannelUnavailable,
    InvalidPayload,
    RateLimited,
    SubscriptionRefused,
)
from miniapp_api.notify.retry import Status, backoff, decide, delivery_ruled_out
from miniapp_api.settings import NotifySettings

SETTINGS = NotifySettings(max_attempts=4, backoff_base_seconds=2.0)


def raised_from(transport: BaseException) -> ChannelError:
    """A ChannelUnavailable raised the way the adapters raise it: ``from None`` in an except."""
    try:
        try:
            raise transport
        except BaseException:
            raise ChannelUnavailable("wechat subscribe_send unreachable") from None
    except ChannelUnavailable as error:
        return error


def refused_connection() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def test_success_is_sent() -> None:
    assert decide(None, 1, SETTINGS).status is Status.SENT


def test_43101_is_refused_and_the_count_forgotten() -> None:
    decision = decide(SubscriptionRefused("refused", platform_code=43101), 1, SETTINGS)
    assert (decision.status, decision.acceptance, decision.retry_in) == (
        Status.REFUSED,
        "forgotten",
        None,
    )


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("throttled", platform_code=45011),
        ChannelUnavailable("busy", platform_code=-1),
        RateLimited("unavailable", platform_code="isp.unknow-error", retry_after=2.0),
        ChannelMisconfigured("could not sign"),
        raised_from(requests.ConnectTimeout()),
        raised_from(refused_connection()),
        raised_from(redis.ConnectionError()),
    ],
)
def test_a_certain_non_delivery_is_retried_and_the_acceptance_given_back(
    error: ChannelError,
) -> None:
    decision = decide(error, 1, SETTINGS)
    assert (decision.status, decision.acceptance) == (Status.PENDING, "given_back")
    assert decision.retry_in is not None
    assert decision.retry_in >= timedelta(seconds=2)


@pytest.mark.parametrize(
    "error",
    [
        ChannelUnavailable("wechat subscribe_send answered HTTP 503"),
        raised_from(requests.ReadTimeout()),
        raised_from(requests.ConnectionError("Connection aborted.")),
        ChannelUnavailable("alipay answer failed signature verification"),
        KeyError("an adapter bug"),
    ],
)
def test_a_possible_delivery_is_failed_and_never_retried(error: Exception) -> None:
    decision = decide(error, 1, SETTINGS)
    assert (decision.status, decision.acceptance) == (Status.FAILED, "spent")
    assert (decision.last_error or "").startswith("delivery unknown")


def test_the_last_attempt_fails_and_gives_the_acceptance_back() -> None:
    decision = decide(RateLimited("throttled", platform_code=45011), 4, SETTINGS)
    assert (decision.status, decision.acceptance) == (Status.FAILED, "given_back")


def test_a_permanent_refusal_is_failed_at_once() -> None:
    decision = decide(InvalidPayload("bad data", platform_code=47003), 1, SETTINGS)
    assert (decision.status, decision.acceptance) == (Status.FAILED, "given_back")


def test_backoff_doubles_with_up_to_half_again_of_jitter() -> None:
    for attempts, low in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)]:
        waits = [backoff(attempts, 2.0).total_seconds() for _ in range(200)]
        assert low <= min(waits)
        assert max(waits) <= low * 1.5
        assert len(set(waits)) > 1  # jittered


def test_backoff_honours_retry_after_and_is_capped() -> None:
    assert backoff(1, 0.1, retry_after=30.0) == timedelta(seconds=30)
    assert backoff(40, 2.0) == timedelta(hours=1)


def test_only_a_platform_answer_or_a_connection_never_made_rules_delivery_out() -> None:
    assert delivery_ruled_out(ChannelUnavailable("busy", platform_code=-1))
    assert delivery_ruled_out(raised_from(refused_connection()))
    assert not delivery_ruled_out(raised_from(requests.ReadTimeout()))
    assert not delivery_ruled_out(ChannelUnavailable("timed out waiting for the token"))
