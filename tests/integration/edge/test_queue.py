"""Under saturation HAProxy serves critical requests first, and refuses what cannot be served
in time with our contract (a one-slot node the test opens one request at a time)."""

from __future__ import annotations

import json

from miniapp_api.edge.bodies import SHEDDING
from miniapp_api.wiring import wiring_of
from tests.integration.edge.conftest import StartEdge
from tests.integration.edge.running import (
    InBackground,
    assert_contract,
    get,
    held_backend,
    wait_for,
)
from tests.support.apps import MakeApp

PATHS = {
    "critical": "/api/v1/results",
    "normal": "/api/v1/me",
    "sheddable": "/api/v1/results/history",
}
LONG_QUEUE = {"QUEUE_SHEDDABLE": 100, "QUEUE_NORMAL": 100, "QUEUE_CRITICAL": 100}


def test_queued_critical_requests_are_served_before_normal_and_sheddable(
    start_edge: StartEdge,
) -> None:
    edge = {**LONG_QUEUE, "QUEUE_TIMEOUT_MS": 60_000}
    with held_backend() as backend, start_edge([backend.address], edge=edge) as (haproxy, listen):
        sent = InBackground()
        sent.get(listen, "/api/v1/results?n=first")  # takes the only slot
        wait_for(lambda: backend.arrivals() == 1, "the first request to hold the slot")
        # Lowest class first, so that order of arrival would put it first.
        queued = [("sheddable", 3), ("normal", 1), ("critical", 3)]
        waiting = 0
        for traffic, count in queued:
            for n in range(count):
                sent.get(listen, f"{PATHS[traffic]}?n={traffic}{n}")
            waiting += count
            wait_for(lambda w=waiting: haproxy.queued() == w, f"{traffic} requests to queue")
        for served in range(1, 8):
            backend.release()
            wait_for(lambda s=served: backend.arrivals() == s + 1, "the next request")
        backend.release()
        answers = sent.answers()

    assert {a.status for a in answers.values()} == {200}
    order = [path.split("?n=")[1].rstrip("0123456789") for path in backend.arrived[1:]]
    assert order == ["critical"] * 3 + ["normal"] + ["sheddable"] * 3


def as_caller_of(channel: str, n: int) -> tuple[str, dict[str, str]]:
    """A request the edge takes to be from ``channel``: the platform a session token names
    (``<account>.<platform>.<secret>``), the H5 page's path, or neither."""
    if channel in ("wechat", "alipay"):
        return f"/api/v1/results?n={n}", {"Authorization": f"Bearer a_edge.{channel}.secret{n}"}
    if channel == "h5":
        return f"/lookup?n={n}", {}
    # A header naming a platform chooses nothing.
    return f"/api/v1/results?n={n}", {"X-Client-Channel": "wechat"}


def test_a_request_not_served_in_time_gets_our_503_contract(
    start_edge: StartEdge, make_app: MakeApp
) -> None:
    edge = {**LONG_QUEUE, "QUEUE_TIMEOUT_MS": 200}
    channels = ["wechat", "alipay", "h5", "other"] * 5
    with held_backend() as backend, start_edge([backend.address], edge=edge) as (_, listen):
        holder, sent = InBackground(), InBackground()
        holder.get(listen, "/api/v1/results?n=holder")
        wait_for(lambda: backend.arrivals() == 1, "the first request to hold the slot")
        for n, channel in enumerate(channels):
            path, headers = as_caller_of(channel, n)
            sent.get(listen, path, headers=headers)
        refused = list(sent.answers().values())  # while the slot is still held
        backend.release()
        assert holder.answers()["/api/v1/results?n=holder"].status == 200

    assert len(refused) == len(channels)
    renderer = wiring_of(make_app()).rejections
    for answer in refused:
        assert_contract(answer, status=503, code="overloaded", reason="queue_full")
    by_channel = {a.json()["detail"]["alternatives"][1]["platform"] for a in refused}
    assert by_channel == {"wechat", "alipay"}  # each caller is pointed at the other platform
    for channel in ("wechat", "alipay", "h5", "other"):
        expected = json.loads(renderer.render(SHEDDING, channel)[2])["detail"]["alternatives"]
        assert any(a.json()["detail"]["alternatives"] == expected for a in refused), channel
    # Jittered: the answers do not all send their clients back at the same second.
    assert len({a.headers["retry-after"] for a in refused}) > 1


def test_sheddable_requests_are_refused_on_arrival_when_the_queue_is_long(
    start_edge: StartEdge,
) -> None:
    edge = {"QUEUE_SHEDDABLE": 0, "QUEUE_NORMAL": 0, "QUEUE_CRITICAL": 100}
    edge["QUEUE_TIMEOUT_MS"] = 60_000
    with held_backend() as backend, start_edge([backend.address], edge=edge) as (haproxy, listen):
        sent = InBackground()
        sent.get(listen, "/api/v1/results?n=holder")
        wait_for(lambda: backend.arrivals() == 1, "the first request to hold the slot")
        sent.get(listen, "/api/v1/results?n=queued")
        wait_for(lambda: haproxy.queued() == 1, "a critical request to queue")
        refused = get(listen, "/api/v1/results/history")  # one waits already: refused at once
        backend.release(2)
        answers = sent.answers()

    assert_contract(refused, status=503, code="overloaded", reason="queue_full")
    assert {a.status for a in answers.values()} == {200}
