"""One Redis client per app, chosen by the URL's scheme.

- ``redis://host:port/db`` (``rediss://`` for TLS): one Redis server;
- ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` for TLS): Redis
  Cluster; the listed nodes are only where the client starts to discover the cluster, so any
  one suffices and several survive one being down. User and password go before the first
  host (``redis+cluster://user:secret@10.0.0.1:7000,10.0.0.2:7000``); there is no database
  number on a cluster;
- ``memory://``: the in-process stand-in (single process only).

Every key the app uses carries a ``{hash tag}``, each Lua script touches one slot, and the
pipelines are non-transactional, so the same code runs on a single server and on a cluster
(``tests/integration/overload/test_cluster.py``).

Both real clients get the short socket timeouts of the settings and no retries, set explicitly:
redis-py 8's default for a cluster is up to 10 retries with back-off, seconds per call on a
hung node. A hung Redis costs a call one timeout (a cluster call up to about four: it re-reads
the slot map after an error); a connection left stale by a restart is replaced when taken from
the pool; the admission gate then decides locally for a moment (``admission/gate.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import fakeredis
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from miniapp_api.settings import RedisSettings

log = logging.getLogger(__name__)

# One stand-in server per process, so every client made here sees the same data.
_EMBEDDED_SERVER = fakeredis.FakeServer()
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# What an unreachable Redis raises, to fail open or closed on. A cluster adds CLUSTERDOWN
# (ClusterError) and, with no node reachable, RedisClusterException, which is not even a
# RedisError (it is also what redis-py raises for a command a cluster cannot run: the cluster
# tests catch those).
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    RedisClusterException,
)


# Any failure of a Redis call (for best-effort paths that carry on without Redis).
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)
# ... or an unreadable value (e.g. a read-model entry whose names map was lost in a failover).
READ_MODEL_FAILURES: tuple[type[Exception], ...] = (*REDIS_ERRORS, ValueError)


def make_redis(settings: RedisSettings) -> redis.Redis:
    """Build the client. Short socket timeouts: a slow Redis must not hold a request thread."""
    if settings.embedded:
        log.warning(
            "redis: using the in-process stand-in (memory://); single process only, "
            "data is lost on exit. Set MINIAPP_REDIS__URL for anything but a demo."
        )
        return fakeredis.FakeRedis(server=_EMBEDDED_SERVER, lua_modules=set())
    if urlsplit(settings.url).scheme in CLUSTER_SCHEMES:
        # RedisCluster has the same command API and per-slot pipelines but is no redis.Redis
        # subclass; the app's few Redis calls were checked to work on both (see above).
        return cast(redis.Redis, _cluster_client(settings))
    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )


def _cluster_client(settings: RedisSettings) -> RedisCluster:
    """A cluster client from ``redis+cluster://[user:password@]host:port[,host:port...]``."""
    parts = urlsplit(settings.url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    first, *others = hosts.split(",")
    # The first node as a plain URL (it carries the credentials and TLS), the rest as nodes.
    seed = urlunsplit(
        (CLUSTER_SCHEMES[parts.scheme], f"{userinfo}{at}{first}", parts.path, parts.query, "")
    )
    return RedisCluster(
        url=seed,
        startup_nodes=[_node(address) for address in others],
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )


def _node(address: str) -> ClusterNode:
    host, _, port = address.strip().rpartition(":")
    # redis-py leaves ClusterNode's constructor unannotated.
    return ClusterNode(host or address.strip(), int(port) if host else 6379)  # type: ignore[no-untyped-call]


class ThreadConnections:
    """Commands sent on a connection each thread keeps for itself: the admission gate's one
    round trip per request without redis-py's per-call machinery.

    ``Redis.execute_command`` takes a connection from the pool and gives it back on every call
    (a lock, a fork check, observability counters, a retry wrapper): about a fifth of a result
    lookup's CPU in ``make profile-hotpath``. A request thread here keeps one connection of its
    own (gthread's threads live as long as the worker) and writes its commands on it in one
    packet. As the pool does, a connection with data waiting or closed by the server (a Redis
    restart) is reconnected before it is used; any failure mid-call closes it, so no reply is
    ever read by the wrong request. A thread's connection is closed when the thread ends
    (:class:`_Owned`). Only for a single server: a cluster routes per slot.
    """

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        self._make: Callable[[], Any] = lambda: pool.connection_class(**pool.connection_kwargs)
        self._local = threading.local()
        # What redis-py makes of a reply (HGETALL's flat list into a dict, ...), as it would.
        self._callbacks = cast(Mapping[str, Callable[..., Any]], client.response_callbacks)

    @staticmethod
    def usable_for(client: object) -> bool:
        """A plain redis-py client of one server (not a cluster, not the in-process stand-in)."""
        pool = getattr(client, "connection_pool", None)
        connection_class = getattr(pool, "connection_class", None)
        return (
            isinstance(client, redis.Redis)
            and not isinstance(client, fakeredis.FakeRedis)
            and getattr(connection_class, "__module__", "") == "redis.connection"
        )

    def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The replies, in order; the first error reply is raised after every reply is read."""
        connection = self._ready()
        replies: list[Any] = []
        error: redis.exceptions.ResponseError | None = None
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            for command in commands:
                try:
                    reply = connection.read_response()
                    callback = self._callbacks.get(str(command[0]).upper())
                    replies.append(callback(reply) if callback else reply)
                except redis.exceptions.ResponseError as exc:  # e.g. NOSCRIPT: the rest follow
                    error = error or exc
                    replies.append(exc)
        except BaseException:
            connection.disconnect()
            raise
        if error is not None:
            raise error
        return replies

    def _ready(self) -> Any:
        owned = getattr(self._local, "owned", None)
        if owned is None:
            owned = self._local.owned = _Owned(self._make())
        connection = owned.connection
        try:
            connection.connect()  # once; a no-op while connected
            if connection.can_read():  # a reply nobody read, or the server closed it
                raise redis.exceptions.ConnectionError("connection has data")
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            connection.disconnect()
            connection.connect()
        return connection


class _Owned:
    """A thread's connection, closed as soon as the thread ends and its locals are dropped.

    A server that runs each request on a new thread (werkzeug's, under ``make run`` and the
    browser tests) would otherwise leave each request's socket open until the cyclic garbage
    collector happens by (redis-py's connection sits in reference cycles), which warns of an
    unclosed socket and holds a Redis client slot meanwhile. This holder is in no cycle: the
    thread's end frees it at once.
    """

    __slots__ = ("connection",)

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.disconnect()
