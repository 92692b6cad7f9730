"""Operator authentication: named tokens, configured as argon2 hashes, no database table.

``MINIAPP_OPS__OPERATORS='[{"name": "alice", "token_hash": "$argon2id$..."}]'`` lists the
operators; ``miniapp ops token create --name alice`` makes a token and prints its entry. A
token is ``<name>.<random>``: the name picks the one hash to check, so a request costs at most
one argon2 verification whatever the number of operators (an unknown name is checked against
a dummy hash, so it takes as long and gets the same 401 as a wrong secret). The hash covers
the whole token, name included.

argon2 is slow on purpose (tens of ms); a token that verified is remembered in process memory,
by its SHA-256, for :data:`CACHE_SECONDS`, which keeps argon2 off the hot path of the console's
polling. Removing an operator from the environment takes a restart, as any setting does.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request

from miniapp_api.errors import Unauthorized
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.security.passwords import (
    HASHER,
    MAX_OPERATOR_FAILURES_PER_NETWORK,
    FailedLogins,
    verify_known,
)
from miniapp_api.settings import ConfigurationError
from miniapp_api.wiring import wiring

EXTENSION_KEY = "miniapp.operators"
CACHE_SECONDS = 60.0
MAX_CACHED = 1024  # tokens; the cache is emptied when full (operators are a handful)
MAX_TOKEN_CHARS = 200  # argon2 over a megabyte of "token" would be a cheap way to burn CPU
NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
REFUSED = "Operator token missing or not valid: send Authorization: Bearer <operator token>."


@dataclass(frozen=True)
class Operator:
    name: str
    token_hash: str


def new_token(name: str) -> tuple[str, Operator]:
    """A fresh random token for ``name`` and the entry that recognises it."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError("operator names are 1-32 characters: a-z, 0-9, '_' or '-'")
    token = f"{name}.{secrets.token_urlsafe(32)}"
    return token, Operator(name, HASHER.hash(token))


def parse_operators(raw: Any) -> dict[str, Operator]:
    """``OPS.OPERATORS``: a JSON list (or a list, from TOML) of ``{"name", "token_hash"}``."""
    entries = json.loads(raw) if isinstance(raw, str) and raw.strip() else raw or []
    if not isinstance(entries, list):
        raise ValueError("MINIAPP_OPS__OPERATORS must be a JSON list")
    found: dict[str, Operator] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not NAME_PATTERN.fullmatch(str(entry.get("name"))):
            raise ValueError("each operator needs a name (a-z, 0-9, '_', '-') and a token_hash")
        found[str(entry["name"])] = Operator(str(entry["name"]), str(entry["token_hash"]))
    return found


class OperatorAuth:
    """Verifies operator tokens; one per app, shared by the worker's threads."""

    def __init__(
        self, operators: Mapping[str, Operator], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.operators = dict(operators)
        self._clock = clock
        self._verified: dict[bytes, tuple[str, float]] = {}  # SHA-256 -> (name, until)
        self._lock = threading.Lock()

    def remembered(self, token: str) -> str | None:
        """The operator's name if ``token`` verified within :data:`CACHE_SECONDS` (no argon2)."""
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            hit = self._verified.get(digest)
        return hit[0] if hit is not None and hit[1] > self._clock() else None

    def verify(self, token: str) -> str | None:
        """The operator's name, or ``None`` (unknown name and wrong secret alike)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        remembered = self.remembered(token)
        if remembered is not None:
            return remembered
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        name = token.partition(".")[0]
        operator = self.operators.get(name)
        # An unknown name is checked against a dummy hash: as long as a wrong secret.
        if not verify_known(operator.token_hash if operator else None, token) or not operator:
            return None
        with self._lock:
            if len(self._verified) >= MAX_CACHED:
                self._verified.clear()
            self._verified[digest] = (operator.name, now + CACHE_SECONDS)
        return operator.name


def install_operator_auth(app: Flask) -> OperatorAuth:
    """Build the verifier from ``OPS.OPERATORS`` at start-up; a malformed list stops the app."""
    section = app.config.get("OPS") or {}
    try:
        operators = parse_operators(section.get("OPERATORS"))
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"MINIAPP_OPS__OPERATORS is not valid: {exc}") from None
    auth = app.extensions[EXTENSION_KEY] = OperatorAuth(operators)
    return auth


def operator_auth() -> OperatorAuth:
    """The current app's verifier (built by ``create_app``)."""
    found = current_app.extensions[EXTENSION_KEY]
    assert isinstance(found, OperatorAuth)
    return found


def require_operator() -> str:
    """The calling operator's name, or 401 (the same answer for a missing or wrong token).

    A token not verified lately costs argon2: past :data:`MAX_OPERATOR_FAILURES_PER_NETWORK`
    wrong tokens from the caller's network (IPv4 address, IPv6 /64) in the window, 429
    ``too_many_failures`` before any hash. Names are not counted: anyone could otherwise lock
    an operator out of the console during an incident.
    """
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    token = raw.strip() if scheme.lower() == "bearer" else ""
    auth = operator_auth()
    name = auth.remembered(token) if token else None
    if name is None and token:
        failures = FailedLogins(
            wiring().redis,
            "operator",
            count_names=False,
            per_network=MAX_OPERATOR_FAILURES_PER_NETWORK,
        )
        address = request.remote_addr or ""
        wait = failures.refused("", address)
        if wait:
            raise Rejected(Rejection(429, "too_many_failures", float(wait)))
        name = auth.verify(token)
        if name is None:
            failures.failed("", address)
    if name is None:
        raise Unauthorized(REFUSED, code="operator_unauthorized")
    return name
