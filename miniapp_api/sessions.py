"""Our own session tokens (opaque, revocable, kept in Redis with a TTL) and the guard of views.

Redis holds only a SHA-256 of the token, so a Redis dump or a ``MONITOR`` does not hand out
live sessions. The key carries a ``{hash tag}`` so it works unchanged on Redis Cluster.

Residents' sessions (``namespace="session"``, issued by ``auth``) and staff sessions
(``"staff"``, issued by ``sampling``) live apart: one kind of token never opens the other's
routes. Every view that needs a caller asks :func:`require_session` (or sampling's
``require_staff``), which reads the session the admission gate already fetched when it can.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis
from flask import g, request

from miniapp_api.errors import Unauthorized


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
        return self._key(token)

    def _key(self, token: str) -> str:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return f"{self.namespace}:{{{digest[:16]}}}:{digest[16:]}"

    def create(self, account_id: str, platform: str) -> str:
        token = secrets.token_urlsafe(32)
        key = self._key(token)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(key, mapping={"account": account_id, "platform": platform})
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()
        return token

    def resolve(
        self, token: str, prefetched: PrefetchedSession | None = None
    ) -> SessionInfo | None:
        """Who the token belongs to; uses ``prefetched`` if it was read for this very key."""
        key = self._key(token)
        found = prefetched.values if prefetched and prefetched.key == key else None
        if found is None:
            found = self._redis.hgetall(key)
        values = {_text(k): _text(v) for k, v in found.items()}
        if "account" not in values or "platform" not in values:
            return None
        return SessionInfo(values["account"], values["platform"])

    def revoke(self, token: str) -> None:
        self._redis.delete(self._key(token))


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


def require_session(sessions: SessionStore) -> SessionInfo:
    """Resolve the caller's session or raise 401. Cached on ``g`` for the request."""
    cached = g.get("session_info")
    if isinstance(cached, SessionInfo):
        return cached
    prefetched = request.environ.get(PREFETCHED_SESSION)
    info = sessions.resolve(
        bearer_token(), prefetched if isinstance(prefetched, PrefetchedSession) else None
    )
    if info is None:
        raise Unauthorized("The session has expired or was ended; log in again.")
    g.session_info = info
    return info
