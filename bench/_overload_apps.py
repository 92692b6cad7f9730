"""The servers of ``bench/overload.py``: the app with and without admission control, the bare
Flask hello app, and the trivial server that measures the generator; plus what is read about
them from ``/proc`` (worker memory, whether they have gone idle).

All run under ``config/gunicorn.conf.py`` (the echo server aside), pinned to the app CPUs, in
their own process groups (stopped with everything they forked). Both apps trust one proxy
(``MINIAPP_APP__TRUSTED_PROXIES=1``), so the same node serves directly and behind HAProxy
(:mod:`_overload_front`); the generator never sends ``X-Forwarded-For`` itself.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _procs import Child, _children, free_port, tree_cpu_seconds, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Server:
    """A server the generator sends to; behind a front door, ``node`` is the app behind it
    (its CPU counts with the door's, its workers' memory is the one reported)."""

    name: str
    child: Child
    port: int
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    node: Server | None = None

    def worker_rss_mb(self) -> float:
        """Resident memory of gunicorn's workers (not the master), summed, in MB."""
        if self.node is not None:
            return self.node.worker_rss_mb()
        total = 0
        for pid in _children(self.child.pid):
            try:
                fields = Path(f"/proc/{pid}/statm").read_text().split()
            except OSError:
                continue
            total += int(fields[1]) * PAGE_BYTES
        return total / 1e6

    def cpu_seconds(self) -> float:
        own = tree_cpu_seconds(self.child.pid)
        return own + (self.node.cpu_seconds() if self.node is not None else 0.0)

    def wait_idle(self, timeout: float = 60.0, share: float = 0.05) -> float:
        """Wait until the server has used under ``share`` of a CPU for two quarter-seconds in
        a row (the backlog of an earlier run drained); returns the seconds waited. An
        unprotected app may still be serving requests whose clients gave up long ago."""
        started, quiet = time.monotonic(), 0
        while time.monotonic() - started < timeout and quiet < 2:
            before = self.cpu_seconds()
            time.sleep(0.25)
            quiet = quiet + 1 if self.cpu_seconds() - before < share * 0.25 else 0
        if quiet < 2:
            print(f"    warning: {self.name} still busy {timeout:.0f}s after its load", flush=True)
        return time.monotonic() - started


def b64_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _gunicorn(
    stack: ExitStack,
    name: str,
    app: str,
    env: dict[str, str],
    cpus: set[int] | None,
    extra: list[str],
) -> Server:
    port = free_port()
    env = env | {"MINIAPP_BIND": f"127.0.0.1:{port}"}
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py")]
    child = Child(name, [*argv, *extra, app], env, ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    return Server(name, child, port, env)


def start_apps(
    stack: ExitStack,
    database_url: str,
    redis_url: str,
    keys: tuple[str, str],
    workers: int,
    threads: int,
    cpus: set[int] | None,
    extra: list[str],
) -> tuple[Server, Server, Server]:
    """(ours with admission control, ours without, hello), started together, then waited for.

    ``extra``: more gunicorn arguments for all three (experiments; none by default)."""
    # MINIAPP_* tuning variables of the caller's environment pass (e.g. OVERLOAD__USER_RATE);
    # everything that places the app in this bench is set here.
    base = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    placed = {
        "MINIAPP_ENV": "staging",
        "MINIAPP_WORKERS": str(workers),
        "MINIAPP_THREADS": str(threads),
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": redis_url,
        "MINIAPP_SECURITY__DATA_KEY": keys[0],
        "MINIAPP_SECURITY__INDEX_KEY": keys[1],
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps([{"kid": "b1", "private_key": b64_key()}]),
        # The accounts' app ids; nothing measured here calls a platform (a closed port).
        "MINIAPP_WECHAT__APP_ID": "wxbench00000001",
        "MINIAPP_WECHAT__APP_SECRET": "a" + secrets.token_hex(16)[1:],
        "MINIAPP_WECHAT__API_BASE_URL": "http://127.0.0.1:9",
        "MINIAPP_ALIPAY__APP_ID": "",
        # WARNING: no per-request access line, so logging costs the app no CPU in the bench.
        "MINIAPP_LOGGING__LEVEL": "WARNING",
        # As a node behind HAProxy must (README, "The front door"); with no X-Forwarded-For
        # from the generator, a direct request's address is the connection's, as before.
        "MINIAPP_APP__TRUSTED_PROXIES": "1",
    }
    ours = _gunicorn(
        stack,
        "protected",
        "wsgi:app",
        base | placed | {"MINIAPP_OVERLOAD__ENABLED": "true"},
        cpus,
        extra,
    )
    bare = _gunicorn(
        stack,
        "unprotected",
        "wsgi:app",
        # The baseline is stock gthread: no admission control (which also turns the worker's
        # door off) and gunicorn's own connection and backlog limits.
        base
        | placed
        | {
            "MINIAPP_OVERLOAD__ENABLED": "false",
            "MINIAPP_WORKER_CONNECTIONS": "1000",
            "MINIAPP_BACKLOG": "2048",
        },
        cpus,
        extra,
    )
    hello_env = {k: v for k, v in base.items() if not k.startswith("MINIAPP_")} | {
        "MINIAPP_WORKERS": str(workers),
        "MINIAPP_THREADS": str(threads),
        "MINIAPP_LOGGING__LEVEL": "WARNING",
        "MINIAPP_REDIS__URL": redis_url,  # only read by the config's several-workers check
    }
    hello = _gunicorn(
        stack,
        "hello",
        "_hello_app:app",
        hello_env,
        cpus,
        [*extra, "--pythonpath", str(ROOT / "bench")],
    )
    for server, path in ((ours, "/healthz"), (bare, "/healthz"), (hello, "/hello")):
        wait_healthy(server.port, path, server.child, timeout=60)
    return ours, bare, hello


def start_without_door(
    stack: ExitStack, ours: Server, cpus: set[int] | None, extra: list[str]
) -> Server:
    """The protected app again, on plain gthread (``--worker-class gthread`` overrides the
    config's door, :mod:`miniapp_api.admission.door`): admission control without the door, to
    measure behind HAProxy what the door adds there (``front-nodoor``)."""
    env = {k: v for k, v in ours.environment.items() if k != "MINIAPP_BIND"}
    plain = [*extra, "--worker-class", "gthread"]
    server = _gunicorn(stack, "protected-nodoor", "wsgi:app", env, cpus, plain)
    wait_healthy(server.port, "/healthz", server.child, timeout=60)
    return server


def start_echo(stack: ExitStack, cpus: set[int] | None) -> Server:
    port = free_port()
    argv = [sys.executable, str(ROOT / "bench" / "_overload_echo.py"), str(port)]
    child = Child("echo", argv, dict(os.environ), ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/", child, timeout=20)
    return Server("echo", child, port)
