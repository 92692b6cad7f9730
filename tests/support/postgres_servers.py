"""A private PostgreSQL cluster for tests that stop or restart the database server.

A test that restarts PostgreSQL must not do it to the shared server the other tests use, so this
makes its own with Debian's binaries: ``initdb`` (trust authentication, no fsync) in a
temporary directory, listening on a free loopback port::

    with postgres_server() as server:
        server.url("miniapp")   # postgresql+psycopg://postgres@127.0.0.1:<port>/miniapp
        server.stop()           # fast shutdown: sessions are ended, connections refused
        server.start()

PostgreSQL refuses to run as root: under root its files belong to, and its programs run as,
the ``postgres`` user (``runuser``). The cluster is stopped (immediate mode) and its directory
removed when the block exits, whatever happened in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.redis_servers import free_port

SERVER_USER = "postgres"


def binaries() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/pg_ctl: apt-get install postgresql")
    return found[-1].parent


@dataclass(frozen=True)
class PostgresServer:
    """One cluster in ``directory`` on ``port``, run by ``pg_ctl``."""

    directory: Path
    port: int
    bin: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the cluster; returns once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        log = str(self.directory / "server.log")
        self._pg_ctl("start", "-w", "-t", "30", "-l", log, "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """``fast``: roll back open transactions, end every session, shut down cleanly."""
        self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)

    def running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *args], check)


def _run(argv: Sequence[str], check: bool) -> subprocess.CompletedProcess[str]:
    as_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
    done = subprocess.run(  # noqa: S603  # our own argv, no shell, no outside input
        [*as_user, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stdout}{done.stderr}")
    return done


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A private, empty, started cluster on a free loopback port; removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="miniapp-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, SERVER_USER, SERVER_USER)
        bin_dir = binaries()
        _run(
            [str(bin_dir / "initdb"), "-D", str(directory / "data"), "-U", SERVER_USER]
            + ["-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
        )
        server = PostgresServer(directory, free_port(), bin_dir)
        server.start()
        try:
            yield server
        finally:
            if server.running():
                server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
