"""The rejection contract: small, jittered, and naming what works instead."""

from __future__ import annotations

import json

from miniapp_api.overload.rejection import Context, Rejection, render

WECHAT_CALLER = Context("wechat", ("wechat", "alipay"), {"alipay": "busy"}, "https://x.cn/lookup")


def test_a_quota_rejection_is_429_with_retry_after_and_all_alternatives() -> None:
    status, headers, body = render(Rejection(429, "user_quota", 4.0), WECHAT_CALLER)

    assert status == 429
    parsed = json.loads(body)
    assert parsed["code"] == "rate_limited"
    assert set(parsed) == {"code", "message", "detail"}
    retry = int(headers["Retry-After"])
    assert 4 <= retry <= 6  # never sooner than asked, at most +50% jitter
    assert parsed["detail"]["retry_after"] == retry
    kinds = [a["kind"] for a in parsed["detail"]["alternatives"]]
    assert kinds == ["saved_code", "other_platform", "h5_lookup", "push"]
    other = parsed["detail"]["alternatives"][1]
    assert (other["platform"], other["status"]) == ("alipay", "busy")
    assert headers["Content-Length"] == str(len(body))


def test_every_rejection_body_stays_under_one_kilobyte() -> None:
    extra = {"ticket": "t" * 120, "position": 12345, "estimated_wait": 600}
    for reason in ("user_quota", "system_quota", "local_concurrency", "platform_throttled"):
        _, _, body = render(Rejection(503, reason, 30.0, extra), WECHAT_CALLER)
        assert len(body) < 1024, reason


def test_the_h5_page_is_not_offered_to_someone_already_on_it() -> None:
    h5 = Context("h5", ("wechat", "alipay"), {}, "https://x.cn/lookup")
    _, _, body = render(Rejection(503, "system_quota", 1.0), h5)
    alternatives = json.loads(body)["detail"]["alternatives"]
    assert "h5_lookup" not in [a["kind"] for a in alternatives]
    assert [a["platform"] for a in alternatives if a["kind"] == "other_platform"] == [
        "wechat",
        "alipay",
    ]


def test_retry_after_is_spread_so_clients_do_not_return_in_step() -> None:
    seen = {
        render(Rejection(503, "system_quota", 10.0), WECHAT_CALLER)[1]["Retry-After"]
        for _ in range(200)
    }
    assert len(seen) > 2
