"""Operators for tests: a token and its argon2 entry, and apps that accept it."""

from __future__ import annotations

import json
from typing import Any

from miniapp_api.ops.auth import new_token
from tests.support.sensitive import TOKENS


def new_operator(name: str) -> tuple[str, str]:
    """``(token, argon2 hash)`` of a new operator ``name``; the token never in a log line
    (``tests/test_no_leaks.py``)."""
    token, entry = new_token(name)
    TOKENS.add(token)
    return token, entry.token_hash


def with_operator(overrides: dict[str, Any], name: str, token_hash: str) -> dict[str, Any]:
    """App ``overrides`` (``tests.conftest.app_overrides``) with ``name`` as the one operator."""
    return {
        **overrides,
        "OPS": {"OPERATORS": json.dumps([{"name": name, "token_hash": token_hash}])},
    }
