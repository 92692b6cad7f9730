"""What `miniapp stack up` runs where: the ports, the nodes' environment, each program's command.

The nodes get the same development secrets and emulator wiring as `make run`
(:func:`miniapp_api.devserver.embedded_environment`), with PostgreSQL and Redis instead of
SQLite and the stand-in. Variables already set in the caller's environment win, so
``MINIAPP_REDIS__URL=redis+cluster://...`` or another database is passed through unchanged.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from miniapp_api.devserver import INSTANCE, dev_secrets, embedded_environment

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
STACK_DIR = INSTANCE / "stack"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/miniapp_stack"
REDIS_URL = "redis://127.0.0.1:6379/5"
# Two workers per node (gunicorn's default is one per CPU): two nodes share this machine.
NODE_WORKERS = "2"


@dataclass(frozen=True)
class Ports:
    """Loopback ports: HAProxy, its stats page, each app node, the platform emulator, and each
    node's internal listener (``internals[i]`` is ``nodes[i]``'s /metrics and /readyz)."""

    edge: int
    stats: int
    nodes: tuple[int, ...]
    emulator: int
    internals: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.internals) != len(self.nodes):
            raise ValueError("one internal port per app node")


@dataclass(frozen=True)
class Program:
    """One background process: how to start it and how to tell that it answers."""

    name: str
    argv: tuple[str, ...]
    environment: Mapping[str, str] = field(repr=False)  # holds the development secrets
    ready_url: str | None = None  # None: nothing to ask (the push worker); alive is enough
    any_answer: bool = False  # ready on any HTTP status (the emulator has no page at /)


@dataclass(frozen=True)
class Plan:
    """The whole stack: where its files go, its ports and the environment of every program."""

    directory: Path
    ports: Ports
    environment: Mapping[str, str] = field(repr=False)

    @property
    def database_url(self) -> str:
        return self.environment["MINIAPP_DATABASE__URL"]

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.edge}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.emulator}"

    def node_address(self, index: int) -> str:
        return f"127.0.0.1:{self.ports.nodes[index]}"

    def internal_address(self, index: int) -> str:
        """Where node ``index`` serves /metrics, /readyz and /openapi.json without a token."""
        return f"127.0.0.1:{self.ports.internals[index]}"

    def programs(self) -> list[Program]:
        """The emulator, the app nodes and the push worker, in starting order (HAProxy comes
        last, once its configuration is rendered: :meth:`haproxy`)."""
        miniapp = executable("miniapp")
        emulator = Program(
            "emulator",
            (miniapp, "emulator", "--port", str(self.ports.emulator)),
            self.environment,
            ready_url=f"{self.emulator_url}/",
            any_answer=True,
        )
        nodes = [
            Program(
                f"node{index + 1}",
                (executable("gunicorn"), "-c", str(GUNICORN_CONF), "wsgi:app"),
                # Its Prometheus files go where gunicorn's settings put them (one folder per port).
                {
                    **self.environment,
                    "MINIAPP_BIND": self.node_address(index),
                    "MINIAPP_OPS__INTERNAL_BIND": self.internal_address(index),
                },
                # Ready: its database and Redis answer (the internal listener's /readyz).
                ready_url=f"http://{self.internal_address(index)}/readyz",
            )
            for index in range(len(self.ports.nodes))
        ]
        worker = Program("worker", (miniapp, "worker"), self.environment)
        return [emulator, *nodes, worker]

    def haproxy(self, config: Path) -> Program:
        """HAProxy in master-worker mode, in the foreground of its own session."""
        return Program(
            "haproxy",
            (executable("haproxy"), "-W", "-f", str(config)),
            self.environment,
            # The front door answers /readyz to nobody: a node's liveness through it will do.
            ready_url=f"{self.edge_url}/healthz",
        )


def make_plan(directory: Path, ports: Ports, inherited: Mapping[str, str]) -> Plan:
    """The stack's plan; ``inherited`` (the caller's environment) wins over our defaults."""
    defaults = embedded_environment(dev_secrets(), ports.edge, ports.emulator)
    defaults.update(
        {
            "MINIAPP_DATABASE__URL": DATABASE_URL,
            "MINIAPP_REDIS__URL": REDIS_URL,
            # HAProxy is the one proxy in front: client addresses come from its X-Forwarded-For.
            "MINIAPP_APP__TRUSTED_PROXIES": "1",
            "MINIAPP_WORKERS": NODE_WORKERS,
            # The ops console's edge panel: the nodes read HAProxy's exporter for it.
            "MINIAPP_OPS__EDGE_METRICS_URL": f"http://127.0.0.1:{ports.stats}/metrics",
        }
    )
    return Plan(directory, ports, {**defaults, **inherited})


def executable(name: str) -> str:
    """A program of this virtualenv (next to its Python), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(name)
    return found
