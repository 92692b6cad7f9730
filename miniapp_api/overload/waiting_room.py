"""The waiting room for profile writes (README, "Overload"): a queue ticket with an estimated wait.

When an operator sets ``modes.waiting_room_rate`` (writes per second), a profile write without
a ticket is not served but handed a place: slots are given out in order, ``1 / rate`` apart,
by one script on one hash-tagged key (next slot = max(now, last slot) + 1 / rate), so every
worker draws from the same queue. The answer is the usual 503 with ``detail.ticket``,
``detail.position`` and ``detail.estimated_wait`` (seconds; ``Retry-After`` says the same). The
client sends the ticket back in ``X-Queue-Ticket`` (``static/miniapp-client.js`` does); once
its slot has come, the write goes through.

A ticket is ``w1.<slot in ms>.<HMAC>``: the slot is readable, the MAC (a key derived from the
blind-index key, over the slot and the account) makes it unforgeable and useless to another
account. It stays valid for :data:`GRACE_SECONDS` after its slot; an early ticket keeps its
place, a forged or expired one is answered with a fresh place at the back. Slots are times on
the workers' clocks (NTP-synced servers agree to a few ms, far below a slot's width).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import redis

from miniapp_api.overload import metrics
from miniapp_api.overload.rejection import Rejected, Rejection

TICKET_HEADER = "X-Queue-Ticket"
QUEUE_KEY = "overload:{waiting}:last"  # one key, one slot: the queue's order is global
GRACE_SECONDS = 300.0  # a ticket whose slot has come stays usable this long
_MAX_TICKET_CHARS = 128
# KEYS[1]: the last slot handed out (us). ARGV: now (us), interval (us). Returns the new slot.
_NEXT_SLOT_LUA = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local slot = math.max(now, last) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.0f', slot), 'PX',
  math.ceil((slot - now) / 1000) + 60000)
return string.format('%.0f', slot)
"""

TicketStatus = Literal["new", "early", "invalid", "expired"]


@dataclass(frozen=True)
class Queued:
    """Not yet: come back with ``ticket`` after ``wait_seconds``."""

    ticket: str
    position: int  # about this many writes go before it
    wait_seconds: float
    status: TicketStatus  # why there was no admission: no ticket, too early, bad, too old


def ticket_key(secret: bytes) -> bytes:
    """The tickets' MAC key, derived so it is useless for anything else."""
    return hmac.new(secret, b"miniapp waiting-room ticket v1", hashlib.sha256).digest()


class WaitingRoom:
    """Hands out places and checks tickets; one per app (no state of its own but the keys).

    ``key`` signs; ``also_accepted`` are checked too: while the index key rotates, a ticket
    signed by a node on the other key still holds its place.
    """

    def __init__(
        self,
        client: redis.Redis,
        key: bytes,
        clock: Callable[[], float] = time.time,
        *,
        also_accepted: Sequence[bytes] = (),
    ) -> None:
        self._redis = client
        self._key = key
        self._keys = (key, *also_accepted)
        self._clock = clock

    def admit(
        self, account_id: str, *, rate: float, ticket: str | None, traffic: str, channel: str
    ) -> None:
        """Call at the top of a profile write, after the session: returns when the write may
        go ahead, else raises :class:`Rejected`, the 503 with the caller's place in the queue.

        ``rate`` is the operators' ``modes.waiting_room_rate`` (writes per second, 0 = open);
        ``traffic`` (the route's class) and ``channel`` label the counter.
        """
        queued = self.enter(account_id, ticket, rate)
        if queued is None:
            return
        metrics.count(traffic, channel, "queued", queued.status)
        extra = {
            "ticket": queued.ticket,
            "ticket_status": queued.status,
            "position": queued.position,
            "estimated_wait": _whole(queued.wait_seconds, 0),
        }
        # Whole seconds, rounded up: the jitter of the contract only ever adds to it, so a
        # client honouring Retry-After never comes back before its slot.
        wait = _whole(queued.wait_seconds, 1)
        raise Rejected(Rejection(503, "waiting_room", wait, extra))

    def enter(self, account_id: str, ticket: str | None, rate: float) -> Queued | None:
        """``None`` when the write may go ahead now, else its place in the queue."""
        if rate <= 0:
            return None
        now = self._clock()
        status: TicketStatus = "new"
        if ticket:
            slot = self.slot_of(account_id, ticket)
            if slot is None:
                status = "invalid"
            elif now < slot:
                wait = slot - now
                return Queued(ticket, _whole(wait * rate, 1), wait, "early")
            elif now <= slot + GRACE_SECONDS:
                return None
            else:
                status = "expired"
        slot = self._next_slot(now, rate)
        wait = max(0.0, slot - now)
        return Queued(self.sign(account_id, slot), _whole(wait * rate, 1), wait, status)

    def sign(self, account_id: str, slot: float) -> str:
        body = f"w1.{round(slot * 1000)}"
        return f"{body}.{self._mac(account_id, body)}"

    def slot_of(self, account_id: str, ticket: str) -> float | None:
        """The ticket's slot (epoch seconds) if this room signed it for this account."""
        if len(ticket) > _MAX_TICKET_CHARS:
            return None
        body, _, mac = ticket.rpartition(".")
        version, _, millis = body.partition(".")
        if version != "w1" or not millis.isdigit():
            return None
        if not any(hmac.compare_digest(mac, self._mac(account_id, body, k)) for k in self._keys):
            return None
        return int(millis) / 1000

    def _mac(self, account_id: str, body: str, key: bytes | None = None) -> str:
        message = f"{account_id}\n{body}".encode()
        digest = hmac.new(key or self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def _next_slot(self, now: float, rate: float) -> float:
        interval_us = max(1, round(1_000_000 / rate))
        script = self._redis.register_script(_NEXT_SLOT_LUA)
        slot_us = script(keys=[QUEUE_KEY], args=[round(now * 1_000_000), interval_us])
        return int(slot_us) / 1_000_000


def _whole(amount: float, at_least: int) -> int:
    """Rounded up, but not for the last microsecond of float noise (1.0000004 slots is 1)."""
    return max(at_least, math.ceil(amount - 1e-3))
