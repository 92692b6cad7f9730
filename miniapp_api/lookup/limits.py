"""Hard limits of the H5 lookup: per registration code, per client address, per code lifetime.

These are not the admission quotas (which protect capacity and are tuned at run time): they
bound guessing. Every attempt is charged, answered or not, before the code is looked up, so an
ID number cannot be found by trying, and one address cannot sweep many codes. Both rates are
GCRA buckets (:mod:`miniapp_api.overload.gcra`), one key each (``{hash tags}``: single-slot on
Redis Cluster), sent in ONE pipeline together with the read of the code's failure count; a
failed lookup of a live code adds one to that count, which expires with the code.

Redis errors propagate: the app's handler answers 503 with the overload contract, so this
abusable path fails closed (the admission gate does the same before the view is reached).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis

from miniapp_api.overload.gcra import GCRA_LUA, Rate, decision

log = logging.getLogger(__name__)

# Module constants rather than configuration for now (the lead may move them to a [LOOKUP]
# section). Why these numbers:
# - per code, 5 at once then one every 2 minutes (5 per 10 minutes): a resident who mistypes
#   the ID number a few times still gets through, and guessing is slow from the first try;
# - per address, 30 at once then one every 20 seconds (30 per 10 minutes): enough for a family
#   or a small office behind one address checking every member twice, while one address cannot
#   sweep codes. Carrier-grade NAT puts many phones behind one mobile address: if operators see
#   refusals of real residents there, raise this one first (the per-code limit is what bounds
#   guessing). IPv6 clients are counted per /64, the smallest block one subscriber gets.
PER_CODE = Rate(per_second=5 / 600, burst=5)
PER_ADDRESS = Rate(per_second=30 / 600, burst=30)
# - per code lifetime, 10 failed lookups (a wrong ID number on a genuine, live code), then the
#   code is locked for this page until it is re-issued (a new code id, so a new count; scanning
#   it keeps working). The rates alone let 5 + 720 a day through, over 21,000 in a code's 30
#   days: more than the ~2,660 numbers left to someone who knows the first 3 and last 4
#   characters that the app's masked ID shows and the district of birth (29,220 birth dates of
#   ages 0-80, of which the known check character leaves 1 in 11). Ten make that 1 in 266 per
#   code at worst, 1 in 5,000 to 27,000 without the district (README "The H5 lookup"), and are
#   still more than a resident mistyping their own number needs.
LIFETIME_FAILURES = 10

_SCRIPT_SHA = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """The limit that refused an attempt and how long until the next one is allowed."""

    limit: str  # "code" or "address"
    retry_after: float  # seconds, before jitter


@dataclass(frozen=True)
class Charge:
    """What charging an attempt found: a refusal, if any, and the code's failures so far."""

    refusal: Refusal | None
    failures: int  # failed lookups of the code before this attempt; 0 without a genuine code

    @property
    def locked(self) -> bool:
        return self.failures >= LIFETIME_FAILURES


def code_key(code_id: str) -> str:
    """The per-code bucket: a digest, so Redis never lists live code ids."""
    digest = hashlib.sha256(code_id.encode()).hexdigest()[:32]
    return f"h5:{{code:{digest}}}"


def failures_key(code_id: str) -> str:
    """The code's failed lookups: beside its bucket, in the same slot (same hash tag)."""
    return code_key(code_id) + ":failed"


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
) -> Charge:
    """Count one attempt against the address and, when the code is genuine, the code, and read
    the code's failure count, in one round trip.

    The refusal is ``None`` if both buckets admit the attempt, else the one with the longest
    wait. A refused attempt does not advance a bucket; an attempt the code admits but the
    address refuses still counts against the code (both decisions are made together).
    """
    buckets = [(address_key(address), per_address, "address")]
    if code_id is not None:
        buckets.insert(0, (code_key(code_id), per_code, "code"))
    counter = failures_key(code_id) if code_id is not None else None
    try:
        replies = _run(client, buckets, counter)
    except redis.exceptions.NoScriptError:
        # A new, restarted or failed-over Redis has no script cache: load it, go again.
        client.script_load(GCRA_LUA)
        replies = _run(client, buckets, counter)
    failures = 0
    if counter is not None:
        count = replies.pop()  # bytes or str by the client's decoding; None: no failure yet
        failures = int(cast(bytes | str, count)) if count is not None else 0
    refusals = []
    for (_, _, limit), reply in zip(buckets, replies, strict=True):
        admitted, retry_after = decision(reply)
        if not admitted:
            refusals.append(Refusal(limit, max(1.0, retry_after)))
    if not refusals:
        return Charge(None, failures)
    worst = max(refusals, key=lambda r: r.retry_after)
    log.info("h5 lookup refused by the per-%s limit", worst.limit)
    return Charge(worst, failures)


def record_failure(
    client: redis.Redis, *, code_id: str, expires_at: datetime, counts: bool
) -> None:
    """Count a failed lookup of a live code (``counts``), kept until the code expires.

    Any other failure of a genuine code (unknown, re-issued) reads the same key instead: every
    failure costs the same round trip, so timing does not tell a live code from a dead one.
    """
    key = failures_key(code_id)
    if not counts:
        client.exists(key)
        return
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expireat(key, int(expires_at.timestamp()))
    pipe.execute()


def _run(
    client: redis.Redis, buckets: list[tuple[str, Rate, str]], counter: str | None
) -> list[object]:
    pipe = client.pipeline(transaction=False)
    for key, rate, _ in buckets:
        # The command, not pipe.evalsha: redis-py's cluster pipeline refuses that method.
        args = (_SCRIPT_SHA, 1, key, *rate.script_args(share=1.0))
        pipe.execute_command("EVALSHA", *args)  # type: ignore[no-untyped-call]
    if counter is not None:
        pipe.get(counter)
    return list(pipe.execute())
