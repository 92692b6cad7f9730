"""Password and token hashes (argon2), and the limits that keep them from being a cheap attack.

argon2 is slow on purpose (tens of milliseconds of CPU and 64 MiB of memory per check), and
staff login and the operators' API run it for callers who are not known yet. Two bounds:

* **At most :data:`CONCURRENT_CHECKS` checks at once per process** (:func:`verify`): a flood of
  logins queues here for at most :data:`WAIT_SECONDS`, then :class:`HashingBusy` (answered 503
  ``local_concurrency`` by ``errors.py``), instead of every thread of every worker hashing at once.
* **Failures are counted** per username and per client network (:class:`FailedLogins`, in
  Redis, so across every node): past :data:`MAX_FAILURES_PER_NAME` wrong passwords for a name,
  or :data:`MAX_FAILURES_PER_NETWORK` from one IPv4 address or IPv6 /64, within
  :data:`FAILURE_WINDOW_SECONDS`, further attempts are refused before any hash is computed.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from miniapp_api.security.networks import client_network

CONCURRENT_CHECKS = 2  # per process: about two cores' worth of argon2
WAIT_SECONDS = 2.0
FAILURE_WINDOW_SECONDS = 900
MAX_FAILURES_PER_NAME = 10
MAX_FAILURES_PER_NETWORK = 100  # a site's shared NAT: many staff, some typos
MAX_OPERATOR_FAILURES_PER_NETWORK = 20  # operators are a handful, their tokens pasted

HASHER = PasswordHasher()
_checks = threading.BoundedSemaphore(CONCURRENT_CHECKS)


class HashingBusy(Exception):
    """Every argon2 slot of this process stayed taken for :data:`WAIT_SECONDS`."""


@functools.cache
def dummy_hash() -> str:
    """A hash no secret matches, made on first use (no import-time work)."""
    return HASHER.hash(secrets.token_urlsafe(24))


def verify_known(secret_hash: str | None, secret: str) -> bool:
    """Whether ``secret`` matches ``secret_hash``; with ``None`` (an unknown name) the secret
    is checked against :func:`dummy_hash` and refused, so an unknown name takes as long as a
    wrong secret and tells nothing. :class:`HashingBusy` if no slot frees up."""
    matches = verify(secret_hash or dummy_hash(), secret)
    return matches and secret_hash is not None


def hash_secret(secret: str) -> str:
    with _slot():
        return HASHER.hash(secret)


def verify(secret_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``secret_hash``; :class:`HashingBusy` if no slot frees up."""
    with _slot():
        try:
            return HASHER.verify(secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


@contextmanager
def _slot() -> Iterator[None]:
    if not _checks.acquire(timeout=WAIT_SECONDS):
        raise HashingBusy
    try:
        yield
    finally:
        _checks.release()


class FailedLogins:
    """Wrong passwords counted per name and per client network, for a window (Redis).

    ``count_names=False``: names are not counted (operator tokens: counting a name would let
    anyone lock an operator out of the console in the middle of an incident). ``per_network``:
    another limit than :data:`MAX_FAILURES_PER_NETWORK`.
    """

    def __init__(
        self,
        client: redis.Redis,
        kind: str,
        *,
        count_names: bool = True,
        per_network: int | None = None,
    ) -> None:
        self._redis = client
        self._kind = kind  # e.g. "staff": names of different kinds are counted apart
        self._count_names = count_names
        self._per_network = per_network

    def _limits(self, name: str, address: str) -> list[tuple[str, int]]:
        """(key, most failures allowed) of each count this attempt is held to."""
        per_network = self._per_network or MAX_FAILURES_PER_NETWORK
        found = [(f"failed:{{{self._kind}:net:{client_network(address)}}}", per_network)]
        if self._count_names:
            found.append((f"failed:{{{self._kind}:name:{name}}}", MAX_FAILURES_PER_NAME))
        return found

    def refused(self, name: str, address: str) -> int:
        """Seconds to wait if this name or network has failed too often, else 0."""
        limits = self._limits(name, address)
        pipe = self._redis.pipeline(transaction=False)
        for key, _ in limits:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        waits = [
            max(int(ttl), 1)
            for (_, limit), count, ttl in zip(limits, replies[::2], replies[1::2], strict=True)
            if count is not None and int(count) >= limit
        ]
        return max(waits, default=0)

    def failed(self, name: str, address: str) -> None:
        self._count([key for key, _ in self._limits(name, address)])

    def succeeded(self, name: str, address: str) -> None:
        """A right password clears the name's count (not the network's)."""
        if self._count_names:
            self._redis.delete(self._limits(name, address)[1][0])

    def _count(self, keys: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, FAILURE_WINDOW_SECONDS, nx=True)
        pipe.execute()
