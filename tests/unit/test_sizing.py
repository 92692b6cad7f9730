"""The sizing arithmetic: one node's most connections against its share of the server's."""

from __future__ import annotations

import pytest

from miniapp_api.db import max_connections_per_engine
from miniapp_api.ops.sizing import budget
from miniapp_api.settings import DatabaseSettings


def test_each_engine_opens_its_pool_and_as_many_overflow_connections() -> None:
    assert max_connections_per_engine(16) == 32


@pytest.mark.parametrize(
    ("workers", "pool", "server", "share", "node", "exceeded"),
    [
        (4, 16, 100, 0.5, 128, True),  # the defaults on a 4-CPU node, PostgreSQL's default
        (2, 16, 100, 0.5, 64, True),
        (1, 16, 100, 0.5, 32, False),
        (2, 8, 100, 0.5, 32, False),
        (4, 16, 500, 0.5, 128, False),
        (2, 16, 128, 0.5, 64, False),  # exactly the share is within it
    ],
)
def test_a_node_exceeds_its_share_only_past_it(
    workers: int, pool: int, server: int, share: float, node: int, exceeded: bool
) -> None:
    database = DatabaseSettings("postgresql://db/x", pool_size=pool, max_connections_share=share)
    found = budget(database, workers=workers, server_max_connections=server)
    assert found.node_connections == node
    assert found.exceeded is exceeded


def test_the_share_must_be_a_fraction() -> None:
    from miniapp_api.settings import ConfigurationError, validate

    with pytest.raises(ConfigurationError, match="MAX_CONNECTIONS_SHARE must be above 0"):
        validate({"DATABASE": {"URL": "sqlite://", "MAX_CONNECTIONS_SHARE": 1.5}})
