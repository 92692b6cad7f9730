"""Benchmark plumbing: child processes we own, a throwaway PostgreSQL database, CPU accounting.

Only loopback addresses are used. Every child is started in its own session (process group), so
stopping it also stops what it forked (gunicorn's workers), and nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, TypeVar

LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port() -> int:
    """A port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _child_setup(cpus: set[int] | None) -> Callable[[], None]:
    """What runs in the child before exec: optional CPU pinning, and dying with the bench.

    PR_SET_PDEATHSIG: if the bench is killed outright (no cleanup), the kernel sends the child
    SIGTERM; gunicorn's workers then notice their master is gone and exit too.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    return setup


class Child:
    """One child process in its own process group, its output kept in a temporary log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        # Outlives __init__ (read after the run, closed by close()), hence no ``with``.
        self.log: IO[bytes] = tempfile.TemporaryFile(prefix=f"bench-{name}-")  # noqa: SIM115
        self.proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
            preexec_fn=_child_setup(cpus),  # children are started before any thread is
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def log_tail(self, lines: int = 20, width: int = 300) -> str:
        """The end of the child's output, long lines (JSON tracebacks) cut to ``width``."""
        tail = self.log_text().splitlines()[-lines:]
        return "\n".join(line if len(line) <= width else line[:width] + " ..." for line in tail)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the child's process group, then SIGKILL it if it is still there."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # Workers may outlive a master that was killed; the group id is still ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def close(self) -> None:
        self.log.close()


# --- CPU accounting ----------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(p) for p in text.split())
    return found


def _own_cpu(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name (which may contain spaces) start at field 3 (state).
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its living descendants (gunicorn and its workers)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += _own_cpu(current)
        stack.extend(_children(current))
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


# --- HTTP on loopback --------------------------------------------------------------------------
def http_json(
    port: int, method: str, path: str, body: Any = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """One request on a fresh connection; returns (status, decoded JSON or None)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, payload, headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, None


def wait_healthy(port: int, path: str, child: Child, timeout: float) -> None:
    """Poll ``path`` until it answers 200; fail early if the child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited during start-up\n{child.log_tail()}")
        with contextlib.suppress(OSError):
            if http_json(port, "GET", path, timeout=1.0)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} not healthy within {timeout:.0f}s\n{child.log_tail()}")


# --- a throwaway PostgreSQL database -----------------------------------------------------------
class ScratchDatabase:
    """``CREATE DATABASE <prefix>_<random>`` on the admin URL's server; :meth:`drop` removes it."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        from sqlalchemy import text

        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


T = TypeVar("T")


def guarded(name: str, run: Callable[[ExitStack], T]) -> T | int:
    """``run(stack)``, whose clean-ups (children, scratch database) go on ``stack``, always
    carried out: SIGTERM unwinds like Ctrl-C, and a second one cannot cut the clean-up short.
    What ``run`` returned, or the exit status of an interruption (130) or a ``RuntimeError``
    (1: a tool missing, a server that did not start, ...), said on stderr as ``bench/<name>``."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with ExitStack() as stack:
            try:
                return run(stack)
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, signal.SIG_IGN)
    except KeyboardInterrupt:
        print(f"bench/{name}: interrupted; processes stopped, database dropped", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"bench/{name}: {error}", file=sys.stderr)
        return 1


def cpu_sets(mode: str) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for the load generator and its helpers, CPUs for the servers), or Nones when not
    pinning (``mode`` "none", or a single CPU)."""
    available = sorted(os.sched_getaffinity(0))
    if mode == "none" or len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])
