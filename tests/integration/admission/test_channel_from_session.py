"""The caller's channel is the platform its session token names, never a header it sends.

The channel decides which channel budget a request draws on. It used to be the client's
``X-Client-Channel`` header (or its referer), so a WeChat client could spend Alipay's budget, or
escape its own by naming another. Now the token says ``<account>.<platform>.<secret>`` and its
SHA-256 is the session's key: naming another platform finds no session.
"""

from __future__ import annotations

from miniapp_api.overload.rejection import channel_of
from tests.support.apps import MakeApp
from tests.support.phones import EmulatorPhone
from tests.support.residents import logged_in

# Every channel may send 4 requests in a burst (one shard, 8 s of 0.5/s); users are free.
TIGHT_CHANNELS = {
    "CHANNEL_RATE": 0.5,
    "SHARDS": 1,
    "BURST_SECONDS": 8.0,
    "USER_RATE": 100.0,
    "USER_BURST": 100.0,
}


def test_a_header_naming_another_channel_spends_the_callers_own_budget(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app(**TIGHT_CHANNELS)
    wechat = logged_in(app, phone, "wechat", consent=False)
    alipay = logged_in(app, phone, "alipay", consent=False)
    posing = {**wechat.auth, "X-Client-Channel": "alipay", "Referer": "https://x.alipay.com/"}

    answers = []
    while len(answers) < 10 and (not answers or answers[-1].status_code == 200):
        answers.append(wechat.client.get("/api/v1/me", headers=posing))

    refused = answers[-1]
    assert refused.status_code == 503, [a.status_code for a in answers]
    assert refused.get_json()["detail"]["reason"] == "channel_quota"  # WeChat's budget
    # What the login left of Alipay's budget is still there: the header spent none of it.
    assert alipay.client.get("/api/v1/me", headers=alipay.auth).status_code == 200


def test_a_token_naming_another_platform_finds_no_session(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app()
    user = logged_in(app, phone, "wechat")
    token = user.token or ""
    account, platform, secret = token.split(".")
    assert platform == "wechat"

    forged = f"{account}.alipay.{secret}"
    answer = user.client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})

    assert answer.status_code == 401
    assert user.client.get("/api/v1/me", headers=user.auth).status_code == 200


def test_without_a_token_the_path_decides_and_headers_do_not() -> None:
    def channel(path: str, **headers: str) -> str:
        environ = {"PATH_INFO": path, **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
        return channel_of(environ)

    assert channel("/api/v1/auth/alipay/login", x_client_channel="wechat") == "alipay"
    assert channel("/api/v1/lookup") == "h5"
    assert channel("/api/v1/codes/keys", x_client_channel="wechat") == "other"
    assert channel("/api/v1/codes/keys", referer="https://servicewechat.com/wx1/1/") == "other"
    # A token of the format before the platform was added: the path's channel.
    assert channel("/api/v1/me", authorization="Bearer a_x.secret") == "other"
    assert channel("/api/v1/me", authorization="Bearer 7.staff.secret") == "other"
    assert channel("/api/v1/me", authorization="Bearer a_x.alipay.secret") == "alipay"
