"""The same admission scripts, sessions and read model on a real 3-node Redis Cluster.

Every key carries a ``{hash tag}`` and every script touches one slot, so the code that runs on
one Redis server runs unchanged on a cluster (``redis+cluster://`` URLs, see
``miniapp_api/redis_client.py``). The cluster is three primaries on loopback, started for
this module; each test starts from empty nodes. Tests check that the keys they used landed
on more than one node: otherwise this would be a single-server test in disguise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, request
from werkzeug.test import TestResponse

from miniapp_api.residents.models import Relation, Resident
from miniapp_api.sessions import PREFETCHED_SESSION, PrefetchedSession
from miniapp_api.wiring import wiring_of
from tests.support.apps import MakeApp
from tests.support.clients import LabClient, result
from tests.support.factories import (
    bearer,
    make_account,
    make_desk,
    make_lab,
    make_residents,
    make_tube,
)
from tests.support.phones import EmulatorPhone
from tests.support.redis_servers import LocalCluster, redis_cluster
from tests.support.residents import MiniProgramUser


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with redis_cluster() as running:
        yield running


@pytest.fixture
def redis_url(cluster: LocalCluster) -> str:
    """Apps of these tests run on the cluster, emptied first."""
    cluster.flush()
    return cluster.url


def keys_jwks(app: Flask, address: str) -> TestResponse:
    """The JWKS (critical, no Redis data needed) as a caller at ``address``."""
    client = app.test_client()
    return client.get("/api/v1/codes/keys", environ_base={"REMOTE_ADDR": address})


def assert_rejection(response: TestResponse, status: int, code: str, reason: str) -> None:
    """The overload contract: status, code, a Retry-After, and what works instead."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["code"], body["detail"]["reason"]) == (code, reason)
    assert int(response.headers["Retry-After"]) >= 1
    kinds = [a["kind"] for a in body["detail"]["alternatives"]]
    assert {"saved_code", "h5_lookup", "push"} <= set(kinds)


def nodes_holding(cluster: LocalCluster, prefix: str) -> set[int]:
    return {
        port
        for port, keys in cluster.keys_by_node().items()
        if any(k.startswith(prefix) for k in keys)
    }


def residents_on_two_nodes(app: Flask, cluster: LocalCluster) -> list[Resident]:
    """Two residents whose result hashes live on different nodes.

    Public ids are random, so two residents share a node one time in three; picking the pair
    makes "the read model spans nodes" true by construction instead of by luck.
    """
    made = make_residents(app, 2)
    while True:
        by_port = {cluster.port_holding(f"results:{{{r.public_id}}}"): r for r in made}
        if len(by_port) >= 2:
            return list(by_port.values())[:2]
        made += make_residents(app, 1)


def test_the_per_user_quota_refuses_past_the_burst(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.5, USER_BURST=3)

    statuses = [keys_jwks(app, "10.1.0.1").status_code for _ in range(3)]
    refused = keys_jwks(app, "10.1.0.1")

    assert statuses == [200, 200, 200]
    assert_rejection(refused, 429, "rate_limited", "user_quota")
    assert keys_jwks(app, "10.1.0.2").status_code == 200  # someone else is not held


@pytest.mark.parametrize(
    ("setting", "reason", "prefix"),
    [
        ("CHANNEL_RATE", "channel_quota", "adm:{ch:other:"),
        ("GLOBAL_RATE", "system_quota", "adm:{sys:"),
    ],
)
def test_a_budget_split_over_shards_refuses_when_spent(
    make_app: MakeApp, cluster: LocalCluster, setting: str, reason: str, prefix: str
) -> None:
    # 8 shards of 1/s each (burst 1): some 40 quick requests must spend them.
    app = make_app(**{setting: 8.0, "SHARDS": 8})

    answers = [keys_jwks(app, f"10.2.0.{n}") for n in range(40)]  # no user quota involved

    refused = [a for a in answers if a.status_code != 200]
    assert refused, "the budget never refused"
    assert_rejection(refused[0], 503, "overloaded", reason)
    assert sum(a.status_code == 200 for a in answers) >= 2
    assert len(nodes_holding(cluster, prefix)) >= 2, cluster.keys_by_node()


def test_a_login_session_is_read_in_the_admission_pipeline(
    make_app: MakeApp, phone: EmulatorPhone, cluster: LocalCluster
) -> None:
    app = make_app()
    prefetched: list[object] = []
    app.before_request(lambda: prefetched.append(request.environ.get(PREFETCHED_SESSION)))
    user = MiniProgramUser(app.test_client(), phone, "wechat")
    assert user.login().status_code == 200

    me = user.me()

    assert me["account"]["platform"] == "wechat"
    seen = prefetched[-1]
    assert isinstance(seen, PrefetchedSession)
    assert seen.key == wiring_of(app).sessions.key_for(user.token or "")
    assert seen.values  # found on its node by the gate; the guard needed no read of its own
    assert len(nodes_holding(cluster, "session:")) == 1


def test_a_result_lookup_reads_the_read_model(make_app: MakeApp, cluster: LocalCluster) -> None:
    app = make_app()
    lab = make_lab(app)
    desk = make_desk(app, lab)
    me, child = residents_on_two_nodes(app, cluster)
    account = make_account(app, [(me, Relation.SELF), (child, Relation.DEPENDENT)])
    tube = make_tube(app, desk, [me, child])
    uploaded = LabClient(app.test_client(), lab).upload([result(tube, "negative")])
    assert uploaded.status_code == 200, uploaded.get_json()
    headers = bearer(app, account)

    response = app.test_client().get("/api/v1/results", headers=headers)

    assert response.status_code == 200, response.get_json()
    shown = {r["id"]: r["latest"] for r in response.get_json()["residents"]}
    assert {rid: (r["state"], r["tube_no"]) for rid, r in shown.items()} == {
        me.public_id: ("negative", tube),
        child.public_id: ("negative", tube),
    }
    by_node = cluster.keys_by_node()
    used = {k for keys in by_node.values() for k in keys}
    assert {f"results:{{{me.public_id}}}", f"results:{{{child.public_id}}}"} <= used
    assert "names:{readmodel}" in used
    assert f"links:{{{account.public_id}}}" in used
    assert sum(1 for keys in by_node.values() if keys) >= 2, by_node


def test_a_result_shows_at_once_though_the_lookup_was_kept(
    make_app: MakeApp, cluster: LocalCluster
) -> None:
    # The kept screen is dropped through the watchers written beside each result hash (in
    # their slots) and the forget script run on the account's slot: both on a cluster.
    app = make_app()
    lab = make_lab(app)
    me, child = residents_on_two_nodes(app, cluster)
    account = make_account(app, [(me, Relation.SELF), (child, Relation.DEPENDENT)])
    tube = make_tube(app, make_desk(app, lab), [me, child])
    headers = bearer(app, account)
    client = app.test_client()

    def states() -> dict[str, str]:
        response = client.get("/api/v1/results", headers=headers)
        assert response.status_code == 200, response.get_json()
        return {r["id"]: r["latest"]["state"] for r in response.get_json()["residents"]}

    assert set(states().values()) == {"pending"}
    assert set(states().values()) == {"pending"}  # now from the kept screen
    uploaded = LabClient(client, lab).upload([result(tube, "negative")])
    assert uploaded.status_code == 200, uploaded.get_json()

    assert set(states().values()) == {"negative"}
    holding = {port for port, keys in cluster.keys_by_node().items() if keys}
    assert {cluster.port_holding(f"results:{{{r.public_id}}}") for r in (me, child)} <= holding


def test_a_cluster_with_no_node_up_fails_open_and_closed_like_one_server(
    make_app: MakeApp,
) -> None:
    with redis_cluster() as doomed:
        # No breaker: every request meets the dead cluster, not just the first.
        app = make_app(redis_url=doomed.url, FAIL_OPEN_RATE=2.0, BREAKER_SECONDS=0.0)
        assert keys_jwks(app, "10.3.0.1").status_code == 200
        for node in doomed.nodes:
            node.kill()

        answers = [keys_jwks(app, f"10.3.1.{n}") for n in range(1, 7)]
        reissue = app.test_client().post(
            "/api/v1/residents/r1/code", headers={"Authorization": "Bearer whatever"}
        )

    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [200, 200]  # critical, no Redis data needed: the local bucket
    assert set(statuses[2:]) == {503}
    assert_rejection(answers[-1], 503, "temporarily_unavailable", "redis_unavailable")
    assert_rejection(reissue, 503, "temporarily_unavailable", "redis_unavailable")  # abusable
