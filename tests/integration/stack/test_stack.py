"""`miniapp stack up|down` (`make stack`): HAProxy in front of two gunicorn nodes, the push
worker and the platform emulator, each its own process, on the real PostgreSQL and Redis.

What it proves: a resident logs in through HAProxy with a code from the emulator the nodes
are configured for (as they would be for the real platforms) and reads ``GET /api/v1/me``;
both nodes serve requests behind HAProxy, and requests are still answered after one node is
killed; no log line holds a development secret or the session token; and ``stack down``
leaves no process of the stack behind (and may be run again).
"""

from __future__ import annotations

import json
import os
import secrets
import signal

import requests

from miniapp_api.devserver import SECRETS_FILE
from miniapp_api.stack.processes import group_members
from tests.integration.stack.conftest import (
    NODES,
    Stack,
    answered_in_a_row,
    authorization,
    diagnosis,
    login,
)


def test_a_resident_is_served_through_haproxy_by_both_nodes_and_down_leaves_nothing(
    stack: Stack,
) -> None:
    started = stack.command("up")
    assert started.returncode == 0, diagnosis(stack, started)
    assert stack.edge in started.stdout
    pids = stack.pids()
    assert set(pids) == {"emulator", *NODES, "worker", "haproxy"}

    http = requests.Session()
    token = login(stack, http)
    assert token is not None
    auth = authorization(token)
    me = http.get(f"{stack.edge}/api/v1/me", headers=auth, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["account"]["platform"] == "wechat"

    # Each request id lands in the access log of the one node that served it.
    ids = [f"stack-{i:02d}-{secrets.token_hex(4)}" for i in range(20)]
    for request_id in ids:
        answer = http.get(
            f"{stack.edge}/api/v1/me", headers={**auth, "X-Request-ID": request_id}, timeout=10
        )
        assert answer.status_code == 200, answer.text
    served = {node: sum(r in stack.log(node) for r in ids) for node in NODES}
    assert sum(served.values()) == len(ids)
    assert all(count > 0 for count in served.values()), served

    # /metrics and the detailed /readyz: on each node's internal listener, not from outside.
    operator = {"Authorization": f"Bearer {json.loads(SECRETS_FILE.read_text())['ops_demo_token']}"}
    for path in ("/metrics", "/readyz", "/openapi.json"):
        outside = http.get(f"{stack.edge}{path}", timeout=10)
        assert (outside.status_code, outside.json()["code"]) == (404, "not_found"), path
    for public, internal in zip(stack.ports.nodes, stack.ports.internals, strict=True):
        for path in ("/metrics", "/readyz"):
            assert requests.get(f"http://127.0.0.1:{public}{path}", timeout=10).status_code == 401
            assert requests.get(f"http://127.0.0.1:{internal}{path}", timeout=10).ok, path
    # The /ops console behind the front door polls /metrics with its operator token.
    assert http.get(f"{stack.edge}/metrics", headers=operator, timeout=10).ok
    assert (
        http.get(f"{stack.edge}/metrics", headers=authorization("x.y"), timeout=10).status_code
        == 401
    )

    # One machine gone: HAProxy sends everything to the other (within its health checks).
    os.killpg(pids["node1"], signal.SIGKILL)
    assert answered_in_a_row(http, f"{stack.edge}/api/v1/me", auth, count=10, within=20)

    secrets_file = json.loads(SECRETS_FILE.read_text())
    logs = "".join(p.read_text(errors="replace") for p in stack.directory.glob("*.log"))
    assert token not in logs
    assert not [name for name, value in secrets_file.items() if value in logs]

    assert stack.command("status").returncode == 0
    stopped = stack.command("down", "--grace", "5")
    assert stopped.returncode == 0, stopped.stderr
    assert {name: group_members(pid) for name, pid in pids.items() if group_members(pid)} == {}
    assert not list(stack.directory.glob("*.pid"))
    assert stack.command("down").returncode == 0  # nothing left to stop is not an error
    assert stack.command("status").returncode == 1
