"""Background processes of the stack: start one in its own session with its log and pid file,
wait until it answers, and end it with everything it started.

Each program leads a session of its own (gunicorn's workers, HAProxy's workers and anything
they spawn stay in its process group), so ending a stack means ending those groups, found
by the pids in ``<dir>/*.pid`` and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

from miniapp_api.stack.plan import ROOT, Program


class StackError(RuntimeError):
    """A program of the stack did not start or did not answer in time."""


def start(program: Program, directory: Path) -> subprocess.Popen[bytes]:
    """Start ``program`` in the background: output to ``<name>.log``, pid in ``<name>.pid``."""
    with (directory / f"{program.name}.log").open("ab") as log:
        child = subprocess.Popen(  # noqa: S603  # argv from the plan, no shell
            program.argv,
            cwd=ROOT,
            env=dict(program.environment),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, and no signals from our terminal
        )
    (directory / f"{program.name}.pid").write_text(f"{child.pid}\n")
    return child


def wait_ready(
    started: Sequence[tuple[Program, subprocess.Popen[bytes]]], directory: Path, timeout: float
) -> None:
    """Return once every program answers its ready URL; raise if one exits or time runs out."""
    pending = list(started)
    deadline = time.monotonic() + timeout
    while pending:
        for program, child in list(pending):
            if child.poll() is not None:
                raise StackError(
                    f"{program.name} exited with status {child.returncode}; "
                    f"see {directory / (program.name + '.log')}"
                )
            if program.ready_url is None or _answers(program.ready_url, program.any_answer):
                pending.remove((program, child))
        if pending and time.monotonic() > deadline:
            names = ", ".join(program.name for program, _ in pending)
            raise StackError(f"not answering after {timeout:.0f} s: {names}; see {directory}/")
        if pending:
            time.sleep(0.2)


def _answers(url: str, any_answer: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  our own loopback URL
            return bool(response.status == 200)
    except urllib.error.HTTPError as refused:
        return any_answer or refused.code == 200
    except OSError:  # refused, reset, timed out: not listening yet
        return False


def taken(ports: Iterable[int]) -> list[int]:
    """The loopback ports someone already listens on (a readiness probe would ask them)."""
    found = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                found.append(port)
    return found


def pid_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pid")) if directory.is_dir() else []


def recorded_pid(path: Path) -> int | None:
    """The pid in a pid file if that process still leads the session we started it in."""
    try:
        pid = int(path.read_text().split()[0])
        # A recycled pid is not a session leader of its own unless it is another daemon: leave
        # anything that is not one alone.
        return pid if os.getsid(pid) == pid else None
    except (ValueError, IndexError, OSError):
        return None


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(stat.parent.name))
    return members


def stop_all(groups: Iterable[int], grace: float) -> list[int]:
    """SIGTERM each group's leader, wait up to ``grace`` seconds for the groups to empty, then
    SIGKILL what is left; returns the groups that had to be killed."""
    groups = [group for group in groups if group_members(group)]
    for group in groups:
        with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.kill(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_members(group) for group in groups):
        time.sleep(0.1)
    killed = [group for group in groups if group_members(group)]
    for group in killed:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(group_members(group) for group in killed):
        time.sleep(0.05)
    return killed
