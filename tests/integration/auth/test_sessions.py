"""Our session tokens: logout ends them; platform trouble does not touch existing sessions."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def test_logout_ends_the_session(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    assert (
        wechat_user.client.post("/api/v1/auth/logout", headers=wechat_user.auth).status_code == 204
    )
    assert wechat_user.client.get("/api/v1/me", headers=wechat_user.auth).status_code == 401


def test_the_token_is_stored_only_as_a_hash(
    app, wechat_user: MiniProgramUser, redis_client
) -> None:  # type: ignore[no-untyped-def]
    wechat_user.login()
    assert wechat_user.token
    keys = [k.decode() for k in redis_client.keys("session:*")]
    assert len(keys) == 1
    assert wechat_user.token not in keys[0]
    ttl = redis_client.ttl(keys[0])
    assert 0 < ttl <= app.extensions["miniapp"].settings.session_ttl_seconds


@pytest.mark.parametrize(
    ("platform", "api", "errcode", "code"),
    [
        ("wechat", "jscode2session", 45011, "platform_throttled"),
        ("wechat", "jscode2session", -1, "platform_unavailable"),
        ("alipay", "alipay.system.oauth.token", "20000", "platform_throttled"),
    ],
)
def test_throttled_platform_answers_503_with_retry_after_and_sessions_keep_working(
    client: FlaskClient, phone: EmulatorPhone, platform: str, api: str, errcode: object, code: str
) -> None:
    existing = MiniProgramUser(client, phone, platform)
    existing.login()
    phone.fault(platform, api, errcode=errcode)

    newcomer = MiniProgramUser(client, phone, platform)
    response = newcomer.login()

    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == code
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/me", headers=existing.auth).status_code == 200


def test_platform_timeout_answers_503_not_500(client: FlaskClient, phone: EmulatorPhone) -> None:
    phone.fault("wechat", "jscode2session", latency_ms=1500)  # the adapter timeout is 1 s here
    response = MiniProgramUser(client, phone, "wechat").login()
    assert response.status_code == 503
    assert response.get_json()["code"] == "platform_unavailable"
    assert "Retry-After" in response.headers
