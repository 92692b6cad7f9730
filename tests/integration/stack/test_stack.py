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
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import create_engine, make_url, text

from miniapp_api.devserver import SECRETS_FILE
from miniapp_api.stack.processes import group_members
from tests.conftest import DATABASE_URL, REDIS_URL
from tests.support.phones import EmulatorPhone
from tests.support.redis_servers import free_port
from tests.support.sensitive import TOKENS

MINIAPP = str(Path(sys.executable).with_name("miniapp"))
NODES = ("node1", "node2")


@dataclass(frozen=True)
class Stack:
    directory: Path
    edge: str
    emulator: str
    environment: dict[str, str]

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  # our own argv, no shell
            [MINIAPP, "stack", *args, "--dir", str(self.directory)],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in sorted(self.directory.glob("*.pid"))}

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The stack's command environment: free ports, a database of its own (created by
    ``stack up``), the tests' Redis; every process it started is ended afterwards, whatever
    happened."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: apt-get install haproxy (.ci/machine installs it)")
    database = f"miniapp_stack_{secrets.token_hex(4)}"
    url = make_url(DATABASE_URL).set(database=database).render_as_string(hide_password=False)
    edge, emulator = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
    environment.update(
        {
            "MINIAPP_DATABASE__URL": url,
            "MINIAPP_REDIS__URL": REDIS_URL,
            "MINIAPP_WORKERS": "1",  # per node: this test needs no more, the machine has 2 CPUs
            # The per-user quota holds across nodes (it is in Redis); this test is one user
            # sending faster than 5/s, as tests/conftest.py's functional tests do.
            "MINIAPP_OVERLOAD__USER_RATE": "10000",
            "MINIAPP_OVERLOAD__USER_BURST": "10000",
            "MINIAPP_STACK_EDGE_PORT": str(edge),
            "MINIAPP_STACK_STATS_PORT": str(free_port()),
            "MINIAPP_STACK_NODE_PORTS": f"{free_port()} {free_port()}",
            "MINIAPP_STACK_EMULATOR_PORT": str(emulator),
        }
    )
    running = Stack(
        tmp_path / "stack", f"http://127.0.0.1:{edge}", f"http://127.0.0.1:{emulator}", environment
    )
    try:
        yield running
    finally:
        seen = running.pids() if running.directory.is_dir() else {}
        running.command("down", "--grace", "5", timeout=60)
        for pid in seen.values():  # in case `stack down` itself is what failed
            if group_members(pid):
                os.killpg(pid, signal.SIGKILL)
        admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        redis.Redis.from_url(REDIS_URL).flushdb()


def test_a_resident_is_served_through_haproxy_by_both_nodes_and_down_leaves_nothing(
    stack: Stack,
) -> None:
    started = stack.command("up")
    assert started.returncode == 0, _diagnosis(stack, started)
    assert stack.edge in started.stdout
    pids = stack.pids()
    assert set(pids) == {"emulator", *NODES, "worker", "haproxy"}

    http = requests.Session()
    code, _ = EmulatorPhone(stack.emulator).wechat_login()
    login = http.post(f"{stack.edge}/api/v1/auth/wechat", json={"code": code}, timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    TOKENS.add(token)
    auth = {"Authorization": f"Bearer {token}"}
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

    # One machine gone: HAProxy sends everything to the other (within its health checks).
    os.killpg(pids["node1"], signal.SIGKILL)
    assert _answered_in_a_row(http, f"{stack.edge}/api/v1/me", auth, count=10, within=20)

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


def _answered_in_a_row(
    http: requests.Session, url: str, headers: dict[str, str], *, count: int, within: float
) -> bool:
    deadline = time.monotonic() + within
    streak = 0
    while streak < count and time.monotonic() < deadline:
        try:
            ok = http.get(url, headers=headers, timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
    return streak >= count


def _diagnosis(stack: Stack, result: subprocess.CompletedProcess[str]) -> str:
    """What `stack up` said and the end of each log, for a failed start."""
    tails = [
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        for path in sorted(stack.directory.glob("*.log"))
    ]
    return "\n".join([result.stdout, result.stderr, *tails])
