"""Fixtures of the stack tests: `miniapp stack` on free ports with a scratch database, the
commands to drive it, and an app of the test's own on the stack's database and Redis (to make
rows and read them back)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from miniapp_api import create_app
from miniapp_api.stack.plan import Ports, make_plan
from miniapp_api.stack.processes import group_members
from tests.conftest import DATABASE_URL, REDIS_URL
from tests.support.phones import EmulatorPhone
from tests.support.redis_servers import RedisServer, free_ports, redis_server
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

    @property
    def database_url(self) -> str:
        return self.environment["MINIAPP_DATABASE__URL"]

    @property
    def ports(self) -> Ports:
        env = self.environment
        return Ports(
            int(env["MINIAPP_STACK_EDGE_PORT"]),
            int(env["MINIAPP_STACK_STATS_PORT"]),
            tuple(int(port) for port in env["MINIAPP_STACK_NODE_PORTS"].split()),
            int(env["MINIAPP_STACK_EMULATOR_PORT"]),
            tuple(int(port) for port in env["MINIAPP_STACK_INTERNAL_PORTS"].split()),
        )

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's view of the app nodes (its stats CSV): node name -> its row."""
        answer = requests.get(f"http://127.0.0.1:{self.ports.stats}/stats;csv", timeout=5)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        ours = [row for row in rows if row["pxname"] == "app" and row["svname"] in NODES]
        return {row["svname"]: row for row in ours}


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[MakeStack]:
    """``make_stack(database_server=..., redis_url=...)``: the stack's command environment with
    free ports and a database of its own (created by ``stack up``) on the given PostgreSQL
    server (default: the tests' one), and the given Redis (default: the tests'). Every process
    it started is ended afterwards, whatever happened."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: apt-get install haproxy (.ci/machine installs it)")
    made: list[tuple[Stack, str, str]] = []

    def make(*, database_server: str = DATABASE_URL, redis_url: str = REDIS_URL) -> Stack:
        database = f"miniapp_stack_{secrets.token_hex(4)}"
        url = make_url(database_server).set(database=database)
        # Seven different ports: two probes apart may be handed the same one (it happened).
        edge, emulator, stats, node1, node2, internal1, internal2 = free_ports(7)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
        environment.update(
            {
                "MINIAPP_DATABASE__URL": url.render_as_string(hide_password=False),
                "MINIAPP_REDIS__URL": redis_url,
                "MINIAPP_WORKERS": "1",  # per node: this test needs no more, the machine has 2 CPUs
                # The per-user quota holds across nodes (it is in Redis); these tests are a few
                # users sending faster than 5/s, as tests/conftest.py's functional tests do.
                "MINIAPP_OVERLOAD__USER_RATE": "10000",
                "MINIAPP_OVERLOAD__USER_BURST": "10000",
                "MINIAPP_STACK_EDGE_PORT": str(edge),
                "MINIAPP_STACK_STATS_PORT": str(stats),
                "MINIAPP_STACK_NODE_PORTS": f"{node1} {node2}",
                "MINIAPP_STACK_EMULATOR_PORT": str(emulator),
                "MINIAPP_STACK_INTERNAL_PORTS": f"{internal1} {internal2}",
            }
        )
        running = Stack(
            tmp_path / f"stack{len(made) or ''}",
            f"http://127.0.0.1:{edge}",
            f"http://127.0.0.1:{emulator}",
            environment,
        )
        made.append((running, database, redis_url))
        return running

    try:
        yield make
    finally:
        for running, database, redis_url in made:
            _clean_up(running, database, redis_url)


def _clean_up(running: Stack, database: str, redis_url: str) -> None:
    seen = running.pids() if running.directory.is_dir() else {}
    running.command("down", "--grace", "5", timeout=60)
    for pid in seen.values():  # in case `stack down` itself is what failed
        if group_members(pid):
            os.killpg(pid, signal.SIGKILL)
    # A private server of the test may be gone already: nothing to drop there.
    with contextlib.suppress(OperationalError):
        server = make_url(running.database_url).set(database="postgres")
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        finally:
            admin.dispose()
    if "+cluster://" in redis_url:
        return  # a private cluster of the test's, gone with it
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(redis_url) as client:
        client.flushdb()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, to kill and start again (not the shared one)."""
    with redis_server() as server:
        yield server


@pytest.fixture
def stack(make_stack: MakeStack) -> Stack:
    """The stack on the tests' PostgreSQL and Redis (not started: ``stack.command("up")``)."""
    return make_stack()


@contextlib.contextmanager
def stack_app(stack: Stack) -> Iterator[Flask]:
    """An app configured exactly as the stack's nodes (its database, Redis and development
    secrets), for the factories and for reading rows back; disposed of on exit."""
    plan = make_plan(stack.directory, stack.ports, stack.environment)
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("MINIAPP_")]:
            env.delenv(name)
        for name, value in plan.environment.items():
            if name.startswith("MINIAPP_"):
                env.setenv(name, value)
        app = create_app()
    try:
        yield app
    finally:
        wire = app.extensions["miniapp"]
        wire.db.dispose()
        wire.redis.close()


def login(stack: Stack, http: requests.Session) -> str | None:
    """A new WeChat resident logged in through HAProxy: the session token (kept in TOKENS, so
    no log may hold it), or None when the login was refused."""
    code, _ = EmulatorPhone(stack.emulator).wechat_login()
    answer = http.post(f"{stack.edge}/api/v1/auth/wechat", json={"code": code}, timeout=10)
    if answer.status_code != 200:
        return None
    token: str = answer.json()["token"]
    TOKENS.add(token)
    return token


def authorization(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def answered_in_a_row(
    http: requests.Session, url: str, headers: dict[str, str], *, count: int, within: float
) -> bool:
    """Whether GET ``url`` soon answers 200 ``count`` times in a row (within ``within`` s)."""
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


def up(stack: Stack) -> None:
    """``stack up``, failing the test with what it said and the end of each log."""
    started = stack.command("up")
    assert started.returncode == 0, diagnosis(stack, started)


def diagnosis(stack: Stack, result: subprocess.CompletedProcess[str]) -> str:
    """What `stack up` said and the end of each log, for a failed start."""
    tails = [
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        for path in sorted(stack.directory.glob("*.log"))
    ]
    return "\n".join([result.stdout, result.stderr, *tails])
