"""The results read model in Redis: names come back, hashes stay listpack-encoded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from flask import Flask

from miniapp_api import readmodel as module
from miniapp_api.readmodel import NAMES_KEY, ResultEntry, ResultReadModel
from miniapp_api.wiring import wiring_of

SAMPLED = datetime(2022, 3, 16, 8, 0, tzinfo=UTC)


def entries() -> list[ResultEntry]:
    return [
        ResultEntry(
            "T100000000001",
            "2022年3月15日全员核酸筛查第15轮",
            "北京市朝阳区望京街道第17号社区核酸采样点",
            SAMPLED - timedelta(days=1),
            "negative",
            SAMPLED - timedelta(days=1) + timedelta(hours=5),
        ),
        ResultEntry(
            "T100000000002",
            "2022年3月16日全员核酸筛查第16轮|加测",
            "北京市朝阳区酒仙桥街道第3号社区核酸采样点",
            SAMPLED,
            "pending",
        ),
    ]


def forget_cached_names() -> None:
    module._caches.clear()


def test_read_returns_the_entries_with_their_names_newest_first(app: Flask) -> None:
    client: redis.Redis = wiring_of(app).redis
    ResultReadModel(client).record([("r-rm-1", e) for e in entries()])

    assert ResultReadModel(client).read(["r-rm-1", "r-rm-none"]) == {
        "r-rm-1": entries()[::-1],
        "r-rm-none": [],
    }
    forget_cached_names()  # a cold process fetches the names it needs
    assert ResultReadModel(client).read(["r-rm-1"])["r-rm-1"] == entries()[::-1]


def test_a_resident_with_two_entries_is_a_listpack_hash(app: Flask) -> None:
    client: redis.Redis = wiring_of(app).redis
    ResultReadModel(client).record([("r-rm-2", e) for e in entries()])

    assert client.object("encoding", "results:{r-rm-2}") in (b"listpack", "listpack")
    assert all(len(v) < module.MAX_VALUE_BYTES for v in client.hvals("results:{r-rm-2}"))


def test_each_name_is_interned_once(app: Flask) -> None:
    client: redis.Redis = wiring_of(app).redis
    model = ResultReadModel(client)
    model.record([("r-rm-3", entries()[0])])
    model.record([("r-rm-4", entries()[0])])
    forget_cached_names()
    ResultReadModel(client).record([("r-rm-5", entries()[0])])

    assert client.hget(NAMES_KEY, "next") in (b"2", "2")
    values = {client.hget(f"results:{{r-rm-{n}}}", "T100000000001") for n in (3, 4, 5)}
    assert len(values) == 1


def test_names_cached_before_a_flush_are_not_used_after_it(app: Flask) -> None:
    client: redis.Redis = wiring_of(app).redis
    first, second = entries()
    ResultReadModel(client).record([("r-rm-6", first)])
    client.flushdb()
    # This process still holds first's ids; the new names hash numbers second's names first.
    ResultReadModel(client).record([("r-rm-7", second)])
    ResultReadModel(client).record([("r-rm-6", first)])

    found = ResultReadModel(client).read(["r-rm-6", "r-rm-7"])

    assert found == {"r-rm-6": [first], "r-rm-7": [second]}


def test_a_batch_written_with_stale_cached_ids_is_written_again(app: Flask) -> None:
    client: redis.Redis = wiring_of(app).redis
    first, second = entries()
    ResultReadModel(client).record([("r-rm-8", second)])
    client.flushdb()
    ResultReadModel(client).record([("r-rm-8", first)])  # all names cached, epoch stale
    ResultReadModel(client).record([("r-rm-8", second)])

    assert ResultReadModel(client).read(["r-rm-8"]) == {"r-rm-8": [second, first]}
