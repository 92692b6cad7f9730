"""Our own session tokens: opaque, revocable, kept in Redis with a TTL.

Redis holds only a SHA-256 of the token, so a Redis dump or a ``MONITOR`` does not hand out
live sessions. The key carries a ``{hash tag}`` so it works unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class SessionInfo:
    """Who a token belongs to."""

    account_id: str  # the account's public id
    platform: str


class SessionStore:
    """Sessions of one kind: residents' (``namespace="session"``) or staff's (``"staff"``)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, namespace: str = "session") -> None:
        self._redis = client
        self.ttl_seconds = ttl_seconds
        self.namespace = namespace

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

    def resolve(self, token: str) -> SessionInfo | None:
        values = {_text(k): _text(v) for k, v in self._redis.hgetall(self._key(token)).items()}
        if "account" not in values or "platform" not in values:
            return None
        return SessionInfo(values["account"], values["platform"])

    def revoke(self, token: str) -> None:
        self._redis.delete(self._key(token))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
