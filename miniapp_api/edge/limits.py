"""The app's per-user quota as HAProxy stick-table thresholds (an approximation, said how).

The app's quota is a GCRA bucket per user: ``USER_RATE`` per second with a burst of
``USER_BURST``, of which a class may use its share (critical all, normal ``SHARE_NORMAL``,
sheddable ``SHARE_SHEDDABLE``). Over any window of ``W`` seconds such a bucket admits at most
``1 + (burst - 1) * share + rate * W`` requests. HAProxy has no GCRA; it counts admitted
requests per key with a sliding-window rate counter (``gpc_rate``) and refuses a request when
the count over ``W`` has reached that bound. Same long-run rate and burst, approximately: the
window lets a whole window's worth through at once where GCRA spreads it, and HAProxy's counter
is itself an estimate (the previous period weighted by its overlap). The app's exact bucket
still applies behind the edge; the edge's job is to stop abuse before it costs Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from miniapp_api.api import TrafficClass
from miniapp_api.settings import OverloadSettings

from .settings import EdgeSettings


@dataclass(frozen=True)
class Quota:
    traffic: str
    per_user: int  # admitted requests per window, per token (or per address before login)
    per_address: int  # all requests of one address (many users behind one NAT)
    queue: int  # refused on arrival when more than this many already wait


def quotas(overload: OverloadSettings, edge: EdgeSettings, slots: int) -> list[Quota]:
    """One per class, critical first; an empty list when the app has no per-user quota."""
    shares = {
        TrafficClass.CRITICAL: (1.0, edge.queue_critical),
        TrafficClass.NORMAL: (overload.share_normal, edge.queue_normal),
        TrafficClass.SHEDDABLE: (overload.share_sheddable, edge.queue_sheddable),
    }
    found = []
    for traffic, (share, queue) in shares.items():
        if overload.user_rate > 0:
            window = overload.user_rate * edge.quota_window_seconds
            per_user = math.floor(1 + (overload.user_burst - 1) * share + window)
        else:
            per_user = 0  # no quota: the template leaves the rules out
        found.append(
            Quota(traffic.value, per_user, per_user * edge.address_users, math.ceil(queue * slots))
        )
    return found


def quota_retry_after(overload: OverloadSettings) -> float:
    """Base seconds before a client over its quota tries again: a full burst's refill."""
    if overload.user_rate <= 0:
        return 1.0
    return max(1.0, overload.user_burst / overload.user_rate)
