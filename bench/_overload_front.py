"""The front door of ``bench/overload.py``: HAProxy in front of one app node, on the app's CPU.

HAProxy's configuration is the production one, rendered by the app's own
:func:`miniapp_api.edge.write_config` from the node's environment (so the edge's quota and
traffic classes are the node's), with the node's ``maxconn`` = its gunicorn slots (workers x
threads): requests wait in HAProxy's priority queue, never inside gunicorn. HAProxy is
checked with ``haproxy -c`` first and runs in master-worker mode in its own process group,
pinned like the node (with one CPU it runs one thread).
"""

from __future__ import annotations

import os
import subprocess
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from _overload_apps import ROOT, Server
from _procs import Child, free_port, wait_healthy

from miniapp_api.stack.plan import executable

INSTALL_HINT = (
    "haproxy is not installed (Debian: apt-get install haproxy; `make machine` does it); "
    "without it run --configs protected,unprotected"
)


def haproxy_executable() -> str:
    """HAProxy's path; a :class:`RuntimeError` saying what to do when it is missing."""
    try:
        return executable("haproxy")
    except FileNotFoundError:
        raise RuntimeError(INSTALL_HINT) from None


def start_front(
    stack: ExitStack,
    name: str,
    node: Server,
    *,
    slots: int,
    cpus: set[int] | None,
    directory: Path,
) -> Server:
    """HAProxy named ``name`` in front of ``node`` (started, healthy); config in ``directory``."""
    from miniapp_api import create_app
    from miniapp_api.edge import write_config

    haproxy = haproxy_executable()
    port = free_port()
    # The app exactly as the node runs it: its MINIAPP_* environment, and nothing else.
    with mock.patch.dict(os.environ, node.environment, clear=True):
        config = write_config(
            create_app(),
            listen=f"127.0.0.1:{port}",
            nodes=[f"127.0.0.1:{node.port}"],
            threads=slots,
            stats=None,
            out=directory / name,
        )
    check = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise RuntimeError(f"haproxy -c refuses {config}:\n{check.stdout}{check.stderr}")
    child = Child(name, [haproxy, "-W", "-f", str(config)], dict(os.environ), ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    # Through HAProxy: /readyz is the nodes' internal listener's, the edge answers it 404.
    wait_healthy(port, "/healthz", child, timeout=30)
    return Server(name, child, port, node.environment, node)
