"""Hard limits of the H5 lookup: per registration code and per client address.

These are not the admission quotas (which protect capacity and are tuned at run time): they
bound guessing. Every attempt is charged, answered or not, before the code is looked up, so the
last four characters of an ID number cannot be found by trying, and one address cannot sweep
many codes. Both decisions are GCRA buckets (:mod:`miniapp_api.overload.gcra`), one key each
(``{hash tags}``: single-slot on Redis Cluster), sent in ONE pipeline.

Redis errors propagate: the app's handler answers 503 with the overload contract, so this
abusable path fails closed (the admission gate does the same before the view is reached).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

import redis

from miniapp_api.overload.gcra import GCRA_LUA, Rate, decision

log = logging.getLogger(__name__)

# Module constants rather than configuration for now (the lead may move them to a [LOOKUP]
# section). Why these numbers:
# - per code, 5 at once then one every 2 minutes (5 per 10 minutes): a resident who mistypes
#   the ending a few times still gets through; someone holding another person's screenshot gets
#   5 + 720 tries a day against up to 11,000 endings of a mainland ID number;
# - per address, 30 at once then one every 20 seconds (30 per 10 minutes): enough for a family
#   or a small office behind one address checking every member twice, while one address cannot
#   sweep codes. Carrier-grade NAT puts many phones behind one mobile address: if operators see
#   refusals of real residents there, raise this one first (the per-code limit is what bounds
#   guessing). IPv6 clients are counted per /64, the smallest block one subscriber gets.
PER_CODE = Rate(per_second=5 / 600, burst=5)
PER_ADDRESS = Rate(per_second=30 / 600, burst=30)

_SCRIPT_SHA = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """The limit that refused an attempt and how long until the next one is allowed."""

    limit: str  # "code" or "address"
    retry_after: float  # seconds, before jitter


def code_key(code_id: str) -> str:
    """The per-code bucket: a digest, so Redis never lists live code ids."""
    digest = hashlib.sha256(code_id.encode()).hexdigest()[:32]
    return f"h5:{{code:{digest}}}"


def address_key(address: str) -> str:
    """The per-address bucket: the IPv4 address, or the /64 of an IPv6 one."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"h5:{{ip:{address or '-'}}}"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"h5:{{ip:{parsed.ipv4_mapped}}}"
        network = ipaddress.IPv6Network((parsed, 64), strict=False)
        return f"h5:{{ip:{network.network_address}/64}}"
    return f"h5:{{ip:{parsed}}}"


def charge(
    client: redis.Redis,
    *,
    code_id: str | None,
    address: str,
    per_code: Rate = PER_CODE,
    per_address: Rate = PER_ADDRESS,
) -> Refusal | None:
    """Count one attempt against the address and, when the code is genuine, the code.

    ``None`` if both admit it; else the refusal with the longest wait. A refused attempt does
    not advance a bucket; an attempt the code admits but the address refuses still counts
    against the code (both decisions are made in the same round trip).
    """
    buckets = [(address_key(address), per_address, "address")]
    if code_id is not None:
        buckets.insert(0, (code_key(code_id), per_code, "code"))
    try:
        replies = _run(client, buckets)
    except redis.exceptions.NoScriptError:
        # A new, restarted or failed-over Redis has no script cache: load it, go again.
        client.script_load(GCRA_LUA)
        replies = _run(client, buckets)
    refusals = []
    for (_, _, limit), reply in zip(buckets, replies, strict=True):
        admitted, retry_after = decision(reply)
        if not admitted:
            refusals.append(Refusal(limit, max(1.0, retry_after)))
    if not refusals:
        return None
    worst = max(refusals, key=lambda r: r.retry_after)
    log.info("h5 lookup refused by the per-%s limit", worst.limit)
    return worst


def _run(client: redis.Redis, buckets: list[tuple[str, Rate, str]]) -> list[object]:
    pipe = client.pipeline(transaction=False)
    for key, rate, _ in buckets:
        # The command, not pipe.evalsha: redis-py's cluster pipeline refuses that method.
        args = (_SCRIPT_SHA, 1, key, *rate.script_args(share=1.0))
        pipe.execute_command("EVALSHA", *args)  # type: ignore[no-untyped-call]
    return list(pipe.execute())
