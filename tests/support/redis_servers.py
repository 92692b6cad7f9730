"""Private redis-server processes for tests that break or shard Redis.

A test that stops, kills or clusters Redis must not do it to the shared server, so these start
their own on free loopback ports, each in a temporary directory, without persistence::

    with redis_server() as server:
        server.pause()      # SIGSTOP: connections open, nothing answers (timeouts)
        server.resume()     # SIGCONT
        server.kill()       # SIGKILL: connections refused
        server.start()      # again, on the same port, empty (no script cache, no data)

    with redis_cluster() as cluster:    # 3 primaries, no replicas, all slots covered
        cluster.url                     # redis+cluster://127.0.0.1:<port>,... (make_redis)

Processes are killed when the block exits, whatever happened in it, and on Linux also when
the test process dies (``PR_SET_PDEATHSIG``), so a crashed run leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

START_TIMEOUT = 10.0


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not on PATH; these tests need a local Redis install")
    return found


def free_port() -> int:
    """A loopback port nobody listens on right now (a start retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` different loopback ports nobody listens on right now. Separate calls to
    :func:`free_port` may hand out the same port twice (it is free again once probed)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
        return ports


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@dataclass
class RedisServer:
    """One redis-server process on ``port``, with its files in ``directory``."""

    directory: Path
    port: int = 0
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        """A client of this server alone, for setting up and inspecting (not for the app)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> None:
        """Start, or start again on the same port; returns once it answers PING."""
        assert self.process is None or self.process.poll() is not None, "already running"
        restart = self.port != 0
        for _ in range(5):
            if not restart:
                self.port = free_port()
            self.process = self._spawn()
            if self._wait_ready():
                return
            # The port was taken meanwhile (another port then), or is not free yet (wait).
            self._reap()
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        args = [
            _executable("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            *self.extra_args,
        ]
        preexec = _die_with_parent if sys.platform == "linux" else None
        return subprocess.Popen(  # noqa: S603  # our own argv, no shell, no outside input
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=preexec,  # only a prctl call between fork and exec
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    return False
                with contextlib.suppress(redis.RedisError):
                    if probe.ping():
                        return True
                time.sleep(0.02)
            return False
        finally:
            probe.close()

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, Redis answers nothing (a hang)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: gone at once, with its data and script cache; connections are refused."""
        self._reap()

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        assert self.process.poll() is None, "not running"
        self.process.send_signal(signum)

    def _reap(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL also ends a stopped process
        if self.process is not None:
            self.process.wait(timeout=START_TIMEOUT)


@contextlib.contextmanager
def redis_server(*extra_args: str) -> Iterator[RedisServer]:
    """A private, empty redis-server on a free loopback port, killed on exit."""
    with (
        tempfile.TemporaryDirectory(prefix="miniapp-redis-") as directory,
        _running(RedisServer(Path(directory), extra_args=extra_args)) as server,
    ):
        yield server


@contextlib.contextmanager
def _running(server: RedisServer) -> Iterator[RedisServer]:
    try:
        server.start()
        yield server
    finally:
        server.kill()


@dataclass(frozen=True)
class LocalCluster:
    """The primaries of a cluster started by :func:`redis_cluster`."""

    nodes: tuple[RedisServer, ...]

    @property
    def url(self) -> str:
        """The app's URL for it (see ``miniapp_api.redis_client.make_redis``)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def flush(self) -> None:
        """Empty every node (data and script caches): a fresh cluster for the next test."""
        for node in self.nodes:
            with contextlib.closing(node.client()) as client:
                client.flushall()
                client.script_flush()

    def port_holding(self, key: str) -> int:
        """The port of the primary that owns ``key``'s slot (asked of the cluster itself)."""
        with contextlib.closing(self.nodes[0].client()) as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(primary[1])
        raise LookupError(f"no node owns slot {slot}")

    def keys_by_node(self) -> dict[int, set[str]]:
        """Every key stored, per node (by port): where the data really lives."""
        found: dict[int, set[str]] = {}
        for node in self.nodes:
            with contextlib.closing(node.client()) as client:
                found[node.port] = {k.decode() for k in client.scan_iter(count=1000)}
        return found


@contextlib.contextmanager
def redis_cluster(size: int = 3) -> Iterator[LocalCluster]:
    """``size`` primaries on loopback, no replicas, every slot assigned; killed on exit."""
    with contextlib.ExitStack() as stack:
        nodes = []
        for _ in range(size):
            # Redis 7 lets the cluster bus have its own port: no port + 10000 to collide.
            bus = free_port()
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="miniapp-rc-")))
            args = (
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / "nodes.conf"),
                "--cluster-port",
                str(bus),
                "--cluster-node-timeout",
                "5000",
            )
            nodes.append(stack.enter_context(_running(RedisServer(directory, extra_args=args))))
        _create_cluster(nodes)
        yield LocalCluster(tuple(nodes))


def _create_cluster(nodes: list[RedisServer]) -> None:
    addresses = [f"127.0.0.1:{n.port}" for n in nodes]
    created = subprocess.run(  # noqa: S603  # our own argv, no shell, no outside input
        [_executable("redis-cli"), "--cluster", "create", *addresses]
        + ["--cluster-replicas", "0", "--cluster-yes"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if created.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout!r}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(_cluster_ok(n, len(nodes)) for n in nodes):
            return
        time.sleep(0.05)
    raise RuntimeError("the test cluster did not reach cluster_state:ok")


def _cluster_ok(node: RedisServer, size: int) -> bool:
    with contextlib.closing(node.client()) as client:
        info = client.cluster("INFO")
    return (
        info.get("cluster_state") == "ok"
        and int(info.get("cluster_slots_ok", 0)) == 16384
        and int(info.get("cluster_known_nodes", 0)) == size
    )
