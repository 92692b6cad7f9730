"""``[EDGE]``: how the HAProxy front door queues and refuses (README, "Overload").

The per-user quota itself is the app's (``[OVERLOAD]`` ``USER_RATE``/``USER_BURST`` and the class
shares): the edge applies the same numbers, so there is one quota to tune.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from miniapp_api.settings import from_section


@dataclass(frozen=True)
class EdgeSettings:
    # A request waits at most this long in HAProxy's queue for a free slot, then gets the 503.
    queue_timeout_ms: int = 1000
    # Refused on arrival when more than this many requests (in units of the backend's slots,
    # the sum of the servers' maxconn) already wait: short for sheddable, longer for critical.
    # DESIGN §7: refusing at arrival by queue length kept goodput at 10x; a timeout alone
    # refuses only after the wait.
    queue_sheddable: float = 1.0
    queue_normal: float = 2.0
    queue_critical: float = 4.0
    retry_after: float = 1.0  # base seconds of a 503's Retry-After (the door's queue_full)
    # The per-user quota is counted over this sliding window (HAProxy's rate counters).
    quota_window_seconds: int = 10
    # One address may stand for this many users (carrier NAT): the ceiling on all its
    # requests, which also stops a client from minting tokens to get fresh quotas.
    address_users: int = 16
    table_size: int = 200_000  # entries per stick table (addresses, token hashes)
    maxconn: int = 4000  # HAProxy's global limit: below ~9,990 at 20,000 descriptors
    hard_stop_after: str = "30s"  # an old process keeps serving its connections this long
    client_timeout: str = "30s"
    server_timeout: str = "35s"  # above gunicorn's 30 s request timeout


def edge_settings(config: Mapping[str, Any]) -> EdgeSettings:
    """The ``[EDGE]`` section of the app's config (``MINIAPP_EDGE__*``), defaults above."""
    section = config.get("EDGE", {})
    return from_section(EdgeSettings, section if isinstance(section, Mapping) else {})
