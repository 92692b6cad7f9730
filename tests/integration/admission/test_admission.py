"""Admission control end to end: quotas, classes, the rejection contract, upstream throttling.

Each test builds its own app (same PostgreSQL, Redis and emulator as the rest of the suite)
with the admission settings it needs; the shared test app has quotas no test reaches.
"""

from __future__ import annotations

import redis

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.admission.install import gate_of
from miniapp_api.residents.models import Relation
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.integration.ops.conftest import INTERNAL_BIND, ON_INTERNAL_BIND
from tests.support.apps import MakeApp
from tests.support.factories import bearer, make_account, make_residents
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser, logged_in
from tests.support.sql import recorded_statements


def test_one_user_is_held_to_the_quota_and_others_are_not(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app(USER_RATE=0.5, USER_BURST=3)
    busy, other = logged_in(app, phone, consent=False), logged_in(app, phone, consent=False)

    lookups = [busy.client.get("/api/v1/results", headers=busy.auth) for _ in range(5)]
    statuses = [response.status_code for response in lookups]
    refused = lookups[-1]

    assert statuses == [200, 200, 200, 429, 429]
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["code"] == "rate_limited"
    assert body["detail"]["reason"] == "user_quota"
    assert int(refused.headers["Retry-After"]) >= 1
    assert {a["kind"] for a in body["detail"]["alternatives"]} >= {"saved_code", "h5_lookup"}
    assert other.client.get("/api/v1/results", headers=other.auth).status_code == 200


def test_every_session_of_an_account_draws_on_the_accounts_quota(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.5, USER_BURST=3)
    me = make_residents(app, 1)[0]
    account = make_account(app, [(me, Relation.SELF)])
    phone, tablet = bearer(app, account), bearer(app, account)  # two logins of one account
    client = app.test_client()

    statuses = [client.get("/api/v1/results", headers=h).status_code for h in (phone, tablet)]
    statuses += [client.get("/api/v1/results", headers=h).status_code for h in (phone, tablet)]

    assert statuses == [200, 200, 200, 429]


def test_normal_traffic_gets_less_of_a_users_burst_than_critical_traffic(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app(USER_RATE=0.5, USER_BURST=3, SHARE_NORMAL=0.5)
    user = logged_in(app, phone, consent=False)
    assert user.client.get("/api/v1/me", headers=user.auth).status_code == 200
    assert user.client.get("/api/v1/me", headers=user.auth).status_code == 200
    assert user.client.get("/api/v1/me", headers=user.auth).status_code == 429  # normal: 2
    assert user.client.get("/api/v1/results", headers=user.auth).status_code == 200  # critical


def test_before_login_the_quota_is_per_client_address(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app(USER_RATE=0.5, USER_BURST=2)
    client = app.test_client()
    here = [client.get("/api/v1/codes/keys").status_code for _ in range(3)]
    elsewhere = client.get("/api/v1/codes/keys", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert here == [200, 200, 429]
    assert elsewhere.status_code == 200


def test_under_a_system_cap_sheddable_traffic_is_refused_first(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    # 1 request/s for the whole system with 20 s of burst, on one shard: a bucket of 20.
    app = make_app(GLOBAL_RATE=1.0, BURST_SECONDS=20.0, SHARDS=1, SHARE_SHEDDABLE=0.5)
    user = logged_in(app, phone)  # the login used one request of the bucket
    for _ in range(10):  # fill the bucket past half with critical lookups
        assert user.client.get("/api/v1/results", headers=user.auth).status_code == 200

    history = user.client.get("/api/v1/results/history", headers=user.auth)
    lookup = user.client.get("/api/v1/results", headers=user.auth)

    assert history.status_code == 503
    assert history.get_json()["detail"]["reason"] == "system_quota"
    assert history.get_json()["code"] == "overloaded"
    assert lookup.status_code == 200


def test_probes_and_metrics_are_never_refused(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.1, USER_BURST=1, sections={"OPS": {"INTERNAL_BIND": INTERNAL_BIND}})
    client = app.test_client()
    client.get("/api/v1/codes/keys")
    assert client.get("/api/v1/codes/keys").status_code == 429
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert client.get("/metrics", environ_overrides=ON_INTERNAL_BIND).status_code == 200


def test_a_worker_at_its_in_flight_limit_refuses_at_once_without_touching_the_database(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app()
    user = logged_in(app, phone)
    gate = gate_of(app)
    assert gate is not None
    held = 0
    while gate.concurrency.try_acquire():  # other requests occupy every slot
        held += 1
    try:
        with recorded_statements(app) as statements:
            refused = user.client.get("/api/v1/me", headers=user.auth)
    finally:
        for _ in range(held):
            gate.concurrency.release(0.001)

    assert refused.status_code == 503
    assert refused.get_json()["detail"]["reason"] == "local_concurrency"
    assert statements == []
    assert len(refused.data) < 1024
    assert user.client.get("/api/v1/me", headers=user.auth).status_code == 200


def test_platform_throttling_at_login_answers_with_the_contract_and_names_the_other_platform(
    make_app: MakeApp, phone: EmulatorPhone
) -> None:
    app = make_app()
    phone.fault("wechat", "jscode2session", errcode=45011)

    refused = MiniProgramUser(app.test_client(), phone, "wechat").login()

    assert refused.status_code == 503
    body = refused.get_json()
    assert body["code"] == "platform_throttled"
    alternatives = {a["kind"]: a for a in body["detail"]["alternatives"]}
    assert alternatives["other_platform"]["platform"] == "alipay"
    assert alternatives["other_platform"]["status"] == "ok"
    # Alipay users refused meanwhile are told WeChat is busy (once workers refresh, < 1 s).
    alipay_app = make_app(USER_RATE=0.1, USER_BURST=1)
    alipay_user = logged_in(alipay_app, phone, "alipay", consent=False)
    headers = alipay_user.auth  # the channel is the session's (its token names alipay)
    alipay_user.client.get("/api/v1/results", headers=headers)
    refused_alipay = alipay_user.client.get("/api/v1/results", headers=headers)
    assert refused_alipay.status_code == 429
    other = [
        a
        for a in refused_alipay.get_json()["detail"]["alternatives"]
        if a["kind"] == "other_platform"
    ]
    assert other == [
        {
            "kind": "other_platform",
            "platform": "wechat",
            "status": "busy",
            "message": other[0]["message"],
        }
    ]


def test_admissions_and_rejections_are_counted_per_class_channel_and_reason(
    make_app: MakeApp,
) -> None:
    app = make_app(USER_RATE=0.1, USER_BURST=1, sections={"OPS": {"INTERNAL_BIND": INTERNAL_BIND}})
    client = app.test_client()

    def counter(outcome: str, reason: str) -> float:
        text = client.get("/metrics", environ_overrides=ON_INTERNAL_BIND).get_data(as_text=True)
        labels = f'channel="other",outcome="{outcome}",reason="{reason}",traffic_class="critical"'
        prefix = f"miniapp_admission_total{{{labels}}} "
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    admitted, rejected = counter("admitted", "ok"), counter("rejected", "user_quota")
    headers = {"X-Client-Channel": "alipay"}  # chooses nothing: no token, no login path
    client.get("/api/v1/codes/keys", headers=headers)
    client.get("/api/v1/codes/keys", headers=headers)

    assert counter("admitted", "ok") == admitted + 1
    assert counter("rejected", "user_quota") == rejected + 1


def test_behind_a_trusted_proxy_the_quota_is_per_forwarded_client_address(
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
) -> None:
    overrides = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    overrides["OVERLOAD"] = {"USER_RATE": 0.1, "USER_BURST": 1.0}
    overrides["APP"] = {"TRUSTED_PROXIES": 1}
    client = create_app(overrides).test_client()

    def keys_from(address: str) -> int:
        return client.get("/api/v1/codes/keys", headers={"X-Forwarded-For": address}).status_code

    assert [keys_from("10.0.0.1"), keys_from("10.0.0.1"), keys_from("10.0.0.2")] == [200, 429, 200]


def test_made_up_tokens_are_charged_to_the_callers_address(make_app: MakeApp) -> None:
    """Otherwise every random token would bring a fresh per-user bucket of its own."""
    app = make_app(USER_RATE=0.1, USER_BURST=3)  # /me is normal: 2 of the 3 (share 0.8)
    client = app.test_client()
    statuses = [
        client.get("/api/v1/me", headers={"Authorization": f"Bearer made-up-{n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 429, 429]
