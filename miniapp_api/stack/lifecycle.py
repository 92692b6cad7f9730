"""Bring the stack up (database, edge configuration, programs in order) and take it down."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from miniapp_api.stack.plan import Plan, executable
from miniapp_api.stack.processes import (
    StackError,
    group_members,
    pid_files,
    recorded_pid,
    start,
    stop_all,
    taken,
    wait_ready,
)

# The order HAProxy, nodes, worker, emulator is the reverse of starting: traffic stops first.
STOP_ORDER = ("haproxy", "node", "worker", "emulator")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_]+")


def running(directory: Path) -> dict[str, int]:
    """The stack's programs that are still running: name -> pid (their group)."""
    found = {path.stem: recorded_pid(path) for path in pid_files(directory)}
    return {name: pid for name, pid in found.items() if pid and group_members(pid)}


def up(plan: Plan, *, timeout: float, grace: float) -> None:
    """Prepare the database, render HAProxy's configuration, start every program and return
    once each answers; on any failure end what was started and raise :class:`StackError`."""
    if still := running(plan.directory):
        raise StackError(f"already running ({', '.join(sorted(still))}): miniapp stack down")
    ports = plan.ports
    if busy := taken([ports.edge, ports.stats, *ports.nodes, ports.emulator, *ports.internals]):
        raise StackError(f"ports in use: {', '.join(map(str, busy))} (see --help for others)")
    plan.directory.mkdir(parents=True, exist_ok=True)
    for stale in pid_files(plan.directory):
        stale.unlink()
    # `create_app` (for the edge's traffic map) and gunicorn's settings read the environment.
    os.environ.update(plan.environment)
    prepare_database(plan.database_url)
    config = render_edge(plan)
    try:
        programs = plan.programs()
        started = [(program, start(program, plan.directory)) for program in programs]
        wait_ready(started, plan.directory, timeout)
        edge = plan.haproxy(config)
        wait_ready([(edge, start(edge, plan.directory))], plan.directory, timeout)
        wait_ready(started, plan.directory, 0)  # the push worker is still alive, too
    except BaseException:
        down(plan.directory, grace=grace)
        raise
    (plan.directory / "stack.json").write_text(json.dumps(urls(plan), indent=2) + "\n")


def down(directory: Path, *, grace: float) -> list[str]:
    """End every program of the stack in ``directory``; the names of those that needed
    SIGKILL. Idempotent: pid files of programs that are gone are removed too."""
    pids = running(directory)
    ordered = sorted(pids, key=_stop_rank)
    killed = stop_all([pids[name] for name in ordered], grace)
    for path in pid_files(directory):
        path.unlink(missing_ok=True)
    return [name for name in ordered if pids[name] in killed]


def _stop_rank(name: str) -> int:
    kind = name.rstrip("0123456789")
    return STOP_ORDER.index(kind) if kind in STOP_ORDER else len(STOP_ORDER)


def urls(plan: Plan) -> dict[str, str]:
    """Where each part of the stack answers (no secrets)."""
    stats = f"http://127.0.0.1:{plan.ports.stats}"
    found = {"edge": plan.edge_url, "stats": f"{stats}/stats", "metrics": f"{stats}/metrics"}
    for index in range(len(plan.ports.nodes)):
        found[f"node{index + 1}"] = f"http://{plan.node_address(index)}"
        found[f"internal{index + 1}"] = f"http://{plan.internal_address(index)}"
    found["emulator"] = plan.emulator_url
    return found


def prepare_database(url: str) -> None:
    """Create the stack's PostgreSQL database if it is missing, then migrate it to head
    (what `miniapp db upgrade` does)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from miniapp_api.migrate import upgrade

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.database:
        if not _DATABASE_NAME.fullmatch(parsed.database):
            raise StackError(f"database name {parsed.database!r}: letters, digits and _ only")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                known = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": parsed.database},
                ).first()
                if known is None:
                    connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        finally:
            admin.dispose()
    upgrade(url)


def render_edge(plan: Plan) -> Path:
    """HAProxy's configuration for this stack, from the routes (``miniapp_api.edge``)."""
    from miniapp_api import create_app
    from miniapp_api.edge import write_config
    from miniapp_api.edge.config import gunicorn_slots

    config = write_config(
        create_app(),
        listen=f"127.0.0.1:{plan.ports.edge}",
        nodes=[plan.node_address(index) for index in range(len(plan.ports.nodes))],
        threads=gunicorn_slots(),  # workers x threads, under the nodes' environment
        stats=f"127.0.0.1:{plan.ports.stats}",
        out=plan.directory / "edge",
    )
    # A broken configuration is named here, not as a silent exit of HAProxy later.
    check = subprocess.run(  # noqa: S603  # our own argv, no shell, no outside input
        [executable("haproxy"), "-c", "-f", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise StackError(f"haproxy -c refuses {config}:\n{check.stdout}{check.stderr}")
    return config
