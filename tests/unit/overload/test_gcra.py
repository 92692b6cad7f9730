"""The GCRA script on a real Redis and on the embedded stand-in (the same Lua runs on both)."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from miniapp_api.overload.gcra import GCRA_LUA, Rate, decision
from tests.conftest import REDIS_URL


@pytest.fixture(params=["redis", "embedded"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    if request.param == "redis":
        real = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        real.delete("t:{gcra}")
        yield real
        real.delete("t:{gcra}")
        real.close()
    else:
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer(), lua_modules=set())


def take(client: redis.Redis, rate: Rate, share: float = 1.0) -> tuple[bool, float]:
    return decision(client.eval(GCRA_LUA, 1, "t:{gcra}", *rate.script_args(share)))


def test_a_full_burst_is_admitted_then_refused_with_the_time_to_wait(client: redis.Redis) -> None:
    rate = Rate(per_second=1.0, burst=5)  # one a second on average, five at once

    admitted = [take(client, rate)[0] for _ in range(5)]
    refused, retry_after = take(client, rate)

    assert admitted == [True] * 5
    assert refused is False
    assert 0.5 < retry_after <= 1.0  # the next token is about a second away


def test_lower_classes_are_refused_while_critical_traffic_still_gets_through(
    client: redis.Redis,
) -> None:
    rate = Rate(per_second=1.0, burst=11)
    for _ in range(6):  # the bucket is now more than half full
        assert take(client, rate)[0]

    assert take(client, rate, share=0.5)[0] is False  # sheddable: refused
    assert take(client, rate, share=1.0)[0] is True  # critical: admitted


def test_a_refusal_does_not_use_up_the_budget(client: redis.Redis) -> None:
    rate = Rate(per_second=1.0, burst=2)
    take(client, rate)
    take(client, rate)
    for _ in range(10):
        assert take(client, rate)[0] is False
    ttl_ms = client.pttl("t:{gcra}")
    assert 0 < ttl_ms <= 2_100  # the key lives only as long as the debt it records


def test_splitting_a_rate_over_shards_keeps_the_total() -> None:
    shard = Rate(per_second=800, burst=800).split(8)
    assert shard.per_second == 100
    assert shard.burst == 100
    assert Rate(per_second=1, burst=2).split(8).burst == 1.0  # never below one request
