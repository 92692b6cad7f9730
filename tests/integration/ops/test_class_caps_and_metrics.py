"""Per-class caps set at run time, and the admission counters at ``/metrics``."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ops.conftest import (
    INTERNAL_BIND,
    ON_INTERNAL_BIND,
    MakeApp,
    set_controls,
)
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import logged_in


def test_a_class_cap_holds_that_class_and_no_other(
    make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    # One shard, one second of burst: a cap of 1/s admits one request, then refuses.
    client = make_app(CONTROLS_REFRESH_SECONDS=0.0, SHARDS=1, BURST_SECONDS=1.0).test_client()
    set_controls(client, operator_auth, limits={"class_rates": {"sheddable": 1.0}})

    history = [client.get("/api/v1/results/history").status_code for _ in range(2)]
    refused = client.get("/api/v1/results/history")
    keys = [client.get("/api/v1/codes/keys").status_code for _ in range(5)]  # critical

    assert history[0] == 401  # admitted (then the view wants a session)
    assert refused.status_code == 503
    assert refused.get_json()["detail"]["reason"] == "class_quota"
    assert refused.get_json()["code"] == "overloaded"
    assert keys == [200] * 5


def admissions(client: FlaskClient) -> dict[tuple[str, str, str, str], float]:
    """``miniapp_admission_total`` by (class, channel, outcome, reason), as /metrics shows it."""
    text = client.get("/metrics", environ_overrides=ON_INTERNAL_BIND).get_data(as_text=True)
    found: dict[tuple[str, str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "miniapp_admission_total":
                labels = sample.labels
                key = (labels["traffic_class"], labels["channel"], labels["outcome"])
                found[(*key, labels["reason"])] = sample.value
    return found


def test_admitted_and_rejected_requests_are_counted_per_class_channel_and_reason(
    make_app: MakeApp, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    app = make_app(CONTROLS_REFRESH_SECONDS=0.0, sections={"OPS": {"INTERNAL_BIND": INTERNAL_BIND}})
    client = app.test_client()
    resident = logged_in(app, phone)
    set_controls(client, operator_auth, read_only=True)
    wechat = {**resident.auth, "X-Client-Channel": "wechat"}
    before = admissions(client)

    assert resident.client.get("/api/v1/results", headers=wechat).status_code == 200
    assert resident.client.get("/api/v1/results", headers=wechat).status_code == 200
    body = {"name": "张三", "id_type": "cn_id", "id_number": cn_id()}
    refused = resident.client.put("/api/v1/me/profile", json=body, headers=wechat)
    assert refused.status_code == 503
    after = admissions(client)

    def grew(key: tuple[str, str, str, str]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew(("critical", "wechat", "admitted", "ok")) == 2
    assert grew(("normal", "wechat", "rejected", "read_only")) == 1
    assert grew(("normal", "wechat", "admitted", "ok")) == 0
