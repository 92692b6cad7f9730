"""The gate's own connections (``redis_client.ThreadConnections``) answer as redis-py would,
survive a Redis restart without an error, and never hand a late reply to the next request."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from miniapp_api.redis_client import ThreadConnections
from tests.support.redis_servers import RedisServer, redis_server


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


def client_of(server: RedisServer, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=timeout)


def test_replies_are_what_redis_py_makes_of_them_and_an_error_comes_after_all(
    server: RedisServer,
) -> None:
    client = client_of(server)
    client.hset("h", mapping={"a": "1"})
    direct = ThreadConnections(client)

    replies = direct.execute([("HGETALL", "h"), ("GET", "missing"), ("INCR", "n")])
    with pytest.raises(redis.exceptions.NoScriptError):
        direct.execute([("EVALSHA", "0" * 40, 0), ("INCR", "n")])

    assert replies == [{b"a": b"1"}, None, 1]
    assert client.get("n") == b"2"  # the command after the error ran, and its reply was read
    assert direct.execute([("INCR", "n")]) == [3]  # nothing left unread on the connection


def test_each_thread_keeps_its_own_connection(server: RedisServer) -> None:
    client = client_of(server)
    direct = ThreadConnections(client)
    seen: list[int] = []

    def ask() -> None:
        for _ in range(3):
            seen.append(direct.execute([("CLIENT", "ID")])[0])

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(seen)) == 2, seen


def test_a_restarted_redis_is_reconnected_to_without_an_error(server: RedisServer) -> None:
    client = client_of(server)
    direct = ThreadConnections(client)
    assert direct.execute([("SET", "k", "v")]) == [True]

    server.kill()
    server.start()  # same port, empty

    assert direct.execute([("GET", "k")]) == [None]


def test_a_reply_that_came_too_late_is_never_read_by_the_next_call(server: RedisServer) -> None:
    client = client_of(server, timeout=0.3)
    direct = ThreadConnections(client)
    direct.execute([("SET", "k", "first")])

    server.pause()
    try:
        with pytest.raises(redis.exceptions.TimeoutError):
            direct.execute([("GET", "k")])
    finally:
        server.resume()

    assert direct.execute([("ECHO", "second")]) == [b"second"]


def test_only_a_plain_client_of_one_server_takes_this_path() -> None:
    assert ThreadConnections.usable_for(redis.Redis())
    assert not ThreadConnections.usable_for(fakeredis.FakeRedis())
    assert not ThreadConnections.usable_for(object())


def test_a_thread_that_ends_closes_its_connection(server: RedisServer) -> None:
    """A server running each request on a new thread (werkzeug's) leaves no socket behind: the
    connection closes when its thread ends, not when the garbage collector comes by."""
    client = client_of(server)
    direct = ThreadConnections(client)
    ids: list[int] = []

    def ask() -> None:
        ids.append(direct.execute([("CLIENT", "ID")])[0])

    gc.disable()  # what closes it must not be the collector
    try:
        for _ in range(5):
            thread = threading.Thread(target=ask)
            thread.start()
            thread.join()
        listed = client.client_list()
    finally:
        gc.enable()

    assert len(set(ids)) == 5, "one connection per thread"
    still_open = {int(c["id"]) for c in listed} & set(ids)
    assert still_open == set()
