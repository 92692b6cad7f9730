"""The production server as operators start it: ``gunicorn -c config/gunicorn.conf.py wsgi:app``
with two workers, on the suite's PostgreSQL and Redis.

``/metrics`` adds up what every worker counted (the multiprocess directory is set as the config
file is read, before the worker class imports prometheus_client), the directory is emptied at
each start, each instance has its own control socket, and the master's sizing check warns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.operators import new_operator
from tests.support.redis_servers import free_ports

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# A route behind admission control that needs neither a login nor the platforms.
ROUTE = "/api/v1/legal"
ROUTE_CLASS = "normal"
# The worker's door refuses before reading the request (a full thread pool), so it counts
# its refusals under no class; nothing else in these tests meets the door.
COUNTED_AS = {ROUTE_CLASS, "unknown"}


@dataclass
class Gunicorn:
    process: subprocess.Popen[str]
    public: str
    internal: str
    metrics_dir: Path
    control_socket: Path
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")


def environment_of(overrides: Mapping[str, Any]) -> dict[str, str]:
    """App ``overrides`` as the MINIAPP_SECTION__KEY variables gunicorn's workers read."""
    found = {k: v for k, v in os.environ.items() if not k.startswith("MINIAPP_")}
    for section, values in overrides.items():
        for key, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            found[f"MINIAPP_{section}__{key}"] = text
    return found


def start_gunicorn(
    directory: Path, environment: Mapping[str, str], *, workers: int = 2
) -> Gunicorn:
    directory.mkdir(parents=True, exist_ok=True)
    public, internal = free_ports(2)
    metrics_dir = directory / "metrics"
    control_socket = directory / f"miniapp-gunicorn-{public}.ctl"
    stderr = directory / f"gunicorn-{public}.log"
    env = {
        **environment,
        "MINIAPP_ENV": "testing",
        "MINIAPP_WORKERS": str(workers),
        "MINIAPP_THREADS": "8",
        "MINIAPP_BIND": f"127.0.0.1:{public}",
        "MINIAPP_OPS__INTERNAL_BIND": f"127.0.0.1:{internal}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # The control socket's default directory: this test's own, so the path is known.
        "XDG_RUNTIME_DIR": str(directory),
    }
    with stderr.open("w") as log:
        process = subprocess.Popen(  # noqa: S603  # our own argv, no shell
            [GUNICORN, "-c", str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    running = Gunicorn(
        process,
        f"http://127.0.0.1:{public}",
        f"http://127.0.0.1:{internal}",
        metrics_dir,
        control_socket,
        stderr,
    )
    try:
        wait_until_ready(running)
    except BaseException:
        stop(running)  # not yet in the test's list: nobody else would
        raise
    return running


def wait_until_ready(running: Gunicorn) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"gunicorn exited ({running.process.returncode}):\n{running.log()}")
        try:
            if requests.get(f"{running.internal}/readyz", timeout=5).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not become ready:\n{running.log()}")


def stop(running: Gunicorn) -> None:
    if running.process.poll() is None:
        os.killpg(running.process.pid, signal.SIGTERM)
        try:
            running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()


@pytest.fixture
def environment(platform_keys: PlatformKeys, postgres_url: str) -> dict[str, str]:
    """The suite's PostgreSQL (migrated) and Redis; the platforms are never called here."""
    overrides = app_overrides(platform_keys, "http://127.0.0.1:9", postgres_url, REDIS_URL)
    return environment_of(overrides)


@pytest.fixture
def servers() -> Iterator[list[Gunicorn]]:
    """Every gunicorn a test started; each is stopped afterwards, whatever happened."""
    started: list[Gunicorn] = []
    yield started
    for running in started:
        stop(running)


def decisions(metrics_text: str, classes: set[str] = COUNTED_AS) -> float:
    """The sum of ``miniapp_admission_total`` for these classes, over every other label."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if (
                sample.name == "miniapp_admission_total"
                and sample.labels.get("traffic_class") in classes
            ):
                total += sample.value
    return total


def counting_pids(metrics_dir: Path) -> set[int]:
    """The worker processes that counted something: prometheus_client's ``counter_<pid>.db``."""
    return {int(path.stem.rpartition("_")[2]) for path in metrics_dir.glob("counter_*.db")}


def drive(base: str, count: int) -> None:
    """``count`` requests to :data:`ROUTE`, 16 at a time on separate connections, so both
    workers accept some. Each is answered: admitted (200), or refused by admission control
    (503) when one worker got more than its threads; either way it is counted once."""

    def one(_: int) -> int:
        # Connection: close. A kept-alive connection comes back to the worker's door when the
        # client closes it; met with a full pool, the door counts that close as a refusal.
        headers = {"Connection": "close"}
        return requests.get(f"{base}{ROUTE}", headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(count)))
    assert set(statuses) <= {200, 503}


def test_metrics_add_up_every_workers_counts_and_start_from_zero(
    tmp_path: Path, environment: dict[str, str], servers: list[Gunicorn]
) -> None:
    token, token_hash = new_operator("alice")
    environment = {
        **environment,
        "MINIAPP_OPS__OPERATORS": json.dumps([{"name": "alice", "token_hash": token_hash}]),
    }
    # What a previous run left: a worker's counts that must not add up into this run's.
    stale = tmp_path / "metrics" / "counter_999999.db"
    stale.parent.mkdir()
    stale.write_bytes(b"\0" * 64)

    servers.append(running := start_gunicorn(tmp_path, environment))

    assert not stale.exists()
    sent = 0
    # Both workers take connections from one listening socket; under concurrency the kernel
    # hands some to each. Keep sending until both have counted (a few hundred at most).
    while len(counting_pids(running.metrics_dir)) < 2 and sent < 3000:
        drive(running.public, 200)
        sent += 200
    workers = {child.pid for child in _children(running.process.pid)}
    assert len(workers) == 2
    assert counting_pids(running.metrics_dir) == workers

    # On the internal bind without a token, on the public one with an operator's.
    internal = requests.get(f"{running.internal}/metrics", timeout=10)
    public = requests.get(
        f"{running.public}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert internal.status_code == public.status_code == 200
    assert decisions(internal.text) == sent
    assert decisions(public.text) == sent


def test_a_restart_empties_the_metrics_directory(
    tmp_path: Path, environment: dict[str, str], servers: list[Gunicorn]
) -> None:
    servers.append(first := start_gunicorn(tmp_path, environment))
    drive(first.public, 50)
    assert decisions(requests.get(f"{first.internal}/metrics", timeout=10).text) == 50
    stop(first)

    servers.append(second := start_gunicorn(tmp_path, environment))

    drive(second.public, 5)
    assert decisions(requests.get(f"{second.internal}/metrics", timeout=10).text) == 5


def test_each_instance_has_its_own_control_socket(
    tmp_path: Path, environment: dict[str, str], servers: list[Gunicorn]
) -> None:
    servers.append(one := start_gunicorn(tmp_path / "one", environment, workers=1))
    servers.append(two := start_gunicorn(tmp_path / "two", environment, workers=1))

    for running in (one, two):
        assert running.control_socket.is_socket(), running.log()
        status = subprocess.run(  # noqa: S603  # our own argv, no shell
            [str(Path(sys.executable).with_name("gunicornc")), "-s", str(running.control_socket)]
            + ["-c", "show workers"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert str(_children(running.process.pid)[0].pid) in status.stdout


def test_the_master_warns_with_the_arithmetic_when_the_pools_exceed_their_share(
    tmp_path: Path, environment: dict[str, str], servers: list[Gunicorn]
) -> None:
    environment = {
        **environment,
        "MINIAPP_DATABASE__POOL_SIZE": "5",
        "MINIAPP_DATABASE__MAX_CONNECTIONS_SHARE": "0.01",
    }

    servers.append(running := start_gunicorn(tmp_path, environment))

    warnings = [line for line in running.log().splitlines() if "sizing:" in line]
    assert len(warnings) == 1, running.log()  # once, by the master, not once per worker
    record = json.loads(warnings[0])
    assert record["level"] == "WARNING"
    arithmetic = "this node may open 20 database connections (2 workers x (pool 5 + overflow 5))"
    assert arithmetic in record["message"]
    assert "MINIAPP_DATABASE__MAX_CONNECTIONS_SHARE=0.01" in record["message"]


@dataclass(frozen=True)
class _Child:
    pid: int


def _children(pid: int) -> list[_Child]:
    """The gunicorn master's worker processes, from /proc."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(_Child(int(status.parent.name)))
    return found
