"""What the gate reads of a resident's account slot: one script, so one round trip in all.

A resident's token names its account (``sessions.py``), and everything a hot route needs of
the account lives under the ``{account id}`` hash tag: the session, the account's quota, the
links copy and its generation, and the account view (``accountview.py``). This script, run
inside the gate's pipeline beside the channel, class and system buckets, reads the session
and, only if the session exists, draws on the account's quota and returns the rest (making
the account's generation if it has none, so a fill that follows can be told of a change). A token
with a made-up or foreign account id finds no session: it costs the account named nothing and
reveals nothing (the gate then charges the caller's address, as for any unknown token).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from miniapp_api.accountview import (
    GENERATION_FUNCTION,
    ViewSnapshot,
    generation_key,
    links_key,
    view_key,
)
from miniapp_api.overload.gcra import GCRA_FUNCTION, Rate, decision
from miniapp_api.sessions import EPOCH_FUNCTION, SessionStore

# KEYS: session, the account's session epoch, account quota, links, generation, view (a staff
# session: the first three only). ARGV: the quota's GCRA arguments (interval 0: unlimited),
# then the names of the view fields wanted. Returns {0} for no session (or one ended by "log
# out everywhere"), else {1, session hash (flat), {admitted, retry us}, links or nil,
# generation, {view field values}} ({1, session, quota} for staff).
PREFETCH_LUA = (
    GCRA_FUNCTION
    + GENERATION_FUNCTION
    + EPOCH_FUNCTION
    + """
local session = redis.call('HGETALL', KEYS[1])
if #session == 0 or not in_current_epoch(session, KEYS[2]) then
  return {0}
end
local quota = {1, 0}
if ARGV[1] ~= '0' then
  quota = gcra(KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
end
if #KEYS == 3 then
  return {1, session, quota}
end
local fields = {}
if #ARGV > 4 then
  fields = redis.call('HMGET', KEYS[6], unpack(ARGV, 5))
end
local links = redis.call('GET', KEYS[4]) or false
return {1, session, quota, links, current_generation(KEYS[5]), fields}
"""
)
PREFETCH_SHA = hashlib.sha1(PREFETCH_LUA.encode(), usedforsecurity=False).hexdigest()


def quota_key(account_id: str) -> str:
    """The account's own quota: every session of the account draws on it."""
    return f"adm:{{{account_id}}}:user"


def staff_quota_key(staff_id: str) -> str:
    """A staff member's own quota, in the slot of their sessions (``staff:{<id>}:...``)."""
    return f"adm:{{{staff_id}}}:staff"


def staff_args(
    sessions: SessionStore, session_key: str, staff_id: str, rate: Rate, share: float
) -> tuple[object, ...]:
    """The ``EVALSHA`` arguments for a staff member's request: the session and their quota."""
    quota = (0, 0, 0, 0) if rate.unlimited else rate.script_args(share)
    keys = (session_key, sessions.epoch_key(staff_id), staff_quota_key(staff_id))
    return (PREFETCH_SHA, len(keys), *keys, *quota)


def prefetch_args(
    sessions: SessionStore,
    session_key: str,
    account_id: str,
    rate: Rate,
    share: float,
    fields: Sequence[str],
) -> tuple[object, ...]:
    """The ``EVALSHA`` arguments (after the command name) for one request."""
    quota = (0, 0, 0, 0) if rate.unlimited else rate.script_args(share)
    keys = (
        session_key,
        sessions.epoch_key(account_id),
        quota_key(account_id),
        links_key(account_id),
        generation_key(account_id),
        view_key(account_id),
    )
    return (PREFETCH_SHA, len(keys), *keys, *quota, *fields)


@dataclass(frozen=True)
class Prefetched:
    """The script's answer: the session hash (empty: no such session), the quota decision and
    the account's snapshot (``None`` when there is no session)."""

    session: dict[bytes | str, bytes | str]
    admitted: bool
    retry_after: float
    view: ViewSnapshot | None


def parse(reply: object, account_id: str, fields: Sequence[str]) -> Prefetched:
    if not isinstance(reply, list) or not reply or not int(reply[0]):
        return Prefetched({}, True, 0.0, None)
    flat, quota = reply[1], reply[2]
    admitted, retry_after = decision(quota)
    session = dict(zip(flat[::2], flat[1::2], strict=True))
    if len(reply) == 3:  # a staff session: no account view
        return Prefetched(session, admitted, retry_after, None)
    links, generation, values = reply[3:]
    owner = session.get(b"account", b"")
    if not isinstance(owner, bytes) or not hmac.compare_digest(owner, account_id.encode()):
        # The key holds the hash of the whole token, so this cannot happen unless the key
        # space was written to by hand: the account's data is not handed out then.
        return Prefetched(session, admitted, retry_after, None)
    view = ViewSnapshot(account_id, generation, links, dict(zip(fields, values, strict=True)))
    return Prefetched(session, admitted, retry_after, view)
