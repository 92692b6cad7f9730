"""Behind a load balancer (``APP.TRUSTED_PROXIES``), the app wears ProxyFix outermost: every
per-app object (the gate, the controls, the rejection renderer) must still be found.

A regression test: they used to be found by looking at ``app.wsgi_app``, which is ProxyFix
there, so behind a proxy the waiting room never opened and rejections rendered by the views
said every platform was fine.
"""

from __future__ import annotations

from flask import Flask

from tests.integration.ops.conftest import set_controls
from tests.support.apps import MakeApp
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser, logged_in

BALANCER = {"REMOTE_ADDR": "10.0.0.2"}  # the balancer; the client is in X-Forwarded-For


def proxied_app(make_app: MakeApp) -> Flask:
    return make_app(CONTROLS_REFRESH_SECONDS=0.0, sections={"APP": {"TRUSTED_PROXIES": 1}})


def test_the_waiting_room_opens_behind_a_proxy(
    make_app: MakeApp, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    app = proxied_app(make_app)
    set_controls(app.test_client(), operator_auth, waiting_room_rate=1000.0)
    resident = logged_in(app, phone)

    queued = resident.client.put(
        "/api/v1/me/profile",
        json={"name": "张三", "id_type": "cn_id", "id_number": cn_id()},
        headers={**resident.auth, "X-Forwarded-For": "203.0.113.7"},
        environ_base=BALANCER,
    )

    assert queued.status_code == 503
    assert queued.get_json()["detail"]["reason"] == "waiting_room"
    assert resident.me()["self"] is None


def test_rejections_from_views_name_a_throttled_platform_behind_a_proxy(
    make_app: MakeApp, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    app = proxied_app(make_app)
    alipay_user = logged_in(app, phone, "alipay")
    phone.fault("wechat", "jscode2session", errcode=45011)
    throttled = MiniProgramUser(app.test_client(), phone, "wechat").login()
    assert throttled.get_json()["code"] == "platform_throttled"
    set_controls(app.test_client(), operator_auth, cache_only=True)

    # Refused by the lookup itself (its links are not cached yet and the database is off
    # limits), so rendered by the app's error handler, on a request whose admission pipeline
    # has just re-read the platforms' status.
    refused = alipay_user.client.get(
        "/api/v1/results",
        headers={**alipay_user.auth, "X-Client-Channel": "alipay"},
        environ_base=BALANCER,
    )

    assert refused.status_code == 503
    body = refused.get_json()
    assert body["detail"]["reason"] == "cache_only"
    other = [a for a in body["detail"]["alternatives"] if a["kind"] == "other_platform"]
    assert [(a["platform"], a["status"]) for a in other] == [("wechat", "busy")]
