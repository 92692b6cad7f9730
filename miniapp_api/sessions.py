"""Our own session tokens (opaque, revocable, kept in Redis with a TTL) and the guard of views.

A token is ``<account id>.<platform>.<secret>`` (``miniapp_api/security/session_tokens.py``).
The account id in front lets the admission gate find, in its one round trip, everything the
caller's account keeps in its own Redis slot: the session, the account's quota, the cached
links and screens (``miniapp_api/accountview.py``); the platform is the caller's channel. Both
are routing hints only, never trusted by themselves: the session key is
``<namespace>:{<account id>}:<SHA-256 of the whole token>``, so a token with another account id
or platform in front finds no session, and the account a session belongs to is read from the
stored hash (and compared with the hint in constant time).

Redis holds only the SHA-256 of a token, so a Redis dump or a ``MONITOR`` does not hand out
live sessions. All sessions of an account share its ``{hash tag}``, so the keys work unchanged
on Redis Cluster and an account's sessions live on one shard.

Tokens issued before this format (no ``.``) keep working until they expire: their key is
``<namespace>:{<first 16 hex of the hash>}:<rest>`` as before; only the one-round-trip
prefetch needs the new format. Tokens of the format between (``<account id>.<secret>``) are
prefetched too; only their channel is the path's.

Residents' sessions (``namespace="session"``, issued by ``auth``) and staff sessions
(``"staff"``, issued by ``sampling``) live apart: one kind of token never opens the other's
routes. Every view that needs a caller asks :func:`require_session` (or sampling's
``require_staff``), which reads the session the admission gate already fetched when it can.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import redis
from flask import g, request

from miniapp_api.errors import Unauthorized
from miniapp_api.security.session_tokens import account_hint, new_token


@dataclass(frozen=True)
class SessionInfo:
    """Who a token belongs to."""

    account_id: str  # the account's public id
    platform: str


# The WSGI environ key under which the admission gate leaves the session it read ahead
# (one Redis round trip for the quota and the session together: miniapp_api/admission/gate.py).
PREFETCHED_SESSION = "miniapp.prefetched_session"


@dataclass(frozen=True)
class PrefetchedSession:
    """A session hash read ahead of the view (in the admission pipeline), with its key."""

    key: str
    values: dict[bytes | str, bytes | str]


class SessionStore:
    """Sessions of one kind: residents' (``namespace="session"``) or staff's (``"staff"``)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, namespace: str = "session") -> None:
        self._redis = client
        self.ttl_seconds = ttl_seconds
        self.namespace = namespace

    def key_for(self, token: str) -> str:
        """The Redis key of the token's session (whether or not it exists)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        account = account_hint(token)
        if account is None:  # a token of the old format
            return f"{self.namespace}:{{{digest[:16]}}}:{digest[16:]}"
        return f"{self.namespace}:{{{account}}}:{digest}"

    def epoch_key(self, account_id: str) -> str:
        """The account's session epoch (same slot): moved by "log out everywhere"; a session
        made under an earlier epoch is dead. Absent (0) for almost every account."""
        return f"{self.namespace}:{{{account_id}}}:epoch"

    def create(self, account_id: str, platform: str, *, site: str | None = None) -> str:
        """A new session's token; ``site``: a staff member's site (its budget, in admission)."""
        token = new_token(account_id, platform)
        extra = ["site", site] if site is not None else []
        self._redis.register_script(_CREATE)(
            keys=[self.key_for(token), self.epoch_key(account_id)],
            args=[account_id, platform, self.ttl_seconds, *extra],
        )
        return token

    def resolve(
        self, token: str, prefetched: PrefetchedSession | None = None
    ) -> SessionInfo | None:
        """Who the token belongs to; uses ``prefetched`` if it was read for this very key."""
        key = self.key_for(token)
        hint = account_hint(token)
        # The gate's script has already refused a session of an ended epoch.
        found = prefetched.values if prefetched and prefetched.key == key else None
        current: bytes | str | None = None
        if found is None and hint is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(key)
            pipe.get(self.epoch_key(hint))
            found, current = pipe.execute()
        elif found is None:  # a token of the old format: not listed under an account
            found = self._redis.hgetall(key)
        values = {_text(k): _text(v) for k, v in found.items()}
        if "account" not in values or "platform" not in values:
            return None
        if hint is not None and not hmac.compare_digest(hint, values["account"]):
            return None  # cannot happen unless the key space was written to by hand
        if current is not None and int(values.get("epoch", "0")) < int(_text(current)):
            return None  # ended by "log out everywhere"
        return SessionInfo(values["account"], values["platform"])

    def revoke(self, token: str) -> None:
        self._redis.delete(self.key_for(token))

    def revoke_all(self, account_id: str) -> None:
        """End every session of the account ("log out everywhere"): its epoch moves, and the
        sessions made under an earlier one are refused wherever they are read. Tokens of the
        old format are not under an account: they expire within ``ttl_seconds``."""
        key = self.epoch_key(account_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(key)
        # Outlives every session made before it; expired, it reads as 0, which only the
        # sessions made since (epoch >= 1) are compared with: they pass.
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()


# KEYS: the session, the account's epoch; ARGV: account, platform, TTL. The session records
# the epoch it was made in (only when there is one: most accounts never have an epoch).
_CREATE = """
redis.call('HSET', KEYS[1], 'account', ARGV[1], 'platform', ARGV[2])
if ARGV[5] then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
local epoch = redis.call('GET', KEYS[2])
if epoch then
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""

# Lua for the scripts that read a session ahead (``admission/prefetch.py``): whether a session
# hash (HGETALL's flat list) was made in the account's current epoch (``epoch_key``).
EPOCH_FUNCTION = """
local function in_current_epoch(session, epoch_key)
  local current = redis.call('GET', epoch_key)
  if not current then
    return true
  end
  local made = '0'
  for i = 1, #session, 2 do
    if session[i] == 'epoch' then
      made = session[i + 1]
    end
  end
  return tonumber(made) >= tonumber(current)
end
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- in views ---------------------------------------------------------------------------------


def bearer_token() -> str:
    """The token of ``Authorization: Bearer <token>``, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Log in first: send Authorization: Bearer <token>.")
    return token.strip()


def prefetched_session() -> PrefetchedSession | None:
    """The session the admission gate read for this request, if it did (``resolve`` uses it
    only if it was read under the key of the store asking: a resident's or a staff one)."""
    found = request.environ.get(PREFETCHED_SESSION)
    return found if isinstance(found, PrefetchedSession) else None


def require_session(sessions: SessionStore) -> SessionInfo:
    """Resolve the caller's session or raise 401. Cached on ``g`` for the request."""
    cached = g.get("session_info")
    if isinstance(cached, SessionInfo):
        return cached
    info = sessions.resolve(bearer_token(), prefetched_session())
    if info is None:
        raise Unauthorized("The session has expired or was ended; log in again.")
    g.session_info = info
    return info
