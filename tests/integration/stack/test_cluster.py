"""`miniapp stack` on Redis Cluster (``MINIAPP_REDIS__URL=redis+cluster://...``), as a city
with more load than one Redis serves would run it.

What it proves: the same stack (HAProxy, two nodes, the worker, the emulator) starts on a
three-primary cluster with nothing else changed; a resident logs in through HAProxy and is
served by both nodes (the session one node wrote is read by the other, through the cluster);
admission decided every request in Redis (no request was refused or let through for want of
Redis); and the keys really are spread over the cluster's primaries, not on one of them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from tests.integration.stack.conftest import NODES, MakeStack, authorization, login, up
from tests.support.redis_servers import LocalCluster, redis_cluster


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with redis_cluster() as started:
        yield started


def test_the_stack_serves_a_resident_on_redis_cluster_from_both_nodes(
    make_stack: MakeStack, cluster: LocalCluster
) -> None:
    stack = make_stack(redis_url=cluster.url)
    up(stack)

    http = requests.Session()
    token = login(stack, http)
    assert token is not None
    auth = authorization(token)

    ids = [f"cluster-{i:02d}-{secrets.token_hex(4)}" for i in range(20)]
    for request_id in ids:
        for path in ("/api/v1/me", "/api/v1/results"):
            answer = http.get(
                f"{stack.edge}{path}", headers={**auth, "X-Request-ID": request_id}, timeout=10
            )
            assert answer.status_code == 200, (path, answer.text)
    served = {node: sum(r in stack.log(node) for r in ids) for node in NODES}
    assert all(count > 0 for count in served.values()), served

    # Admission decided in Redis every time: never locally for want of it (counted as
    # fail_open or redis_unavailable, and logged).
    metrics = "".join(
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for port in stack.ports.internals  # each node's internal listener
    )
    assert 'outcome="admitted",reason="ok"' in metrics
    assert 'reason="fail_open"' not in metrics
    assert 'reason="redis_unavailable"' not in metrics
    for node in NODES:
        assert "Redis unreachable" not in stack.log(node)

    # More residents, so that their keys (a session and a links copy each, hash-tagged by
    # random ids) cannot all sit on one primary but by a chance of about 3 x 3^-12.
    for _ in range(5):
        other = login(stack, http)
        assert other is not None
        assert http.get(f"{stack.edge}/api/v1/results", headers=authorization(other), timeout=10).ok
    keys = cluster.keys_by_node()
    assert sum(1 for found in keys.values() if found) >= 2, keys
