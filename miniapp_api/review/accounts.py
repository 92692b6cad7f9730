"""Reviewer accounts: names and argon2 password hashes from the environment, no database table.

``MINIAPP_REVIEW__ACCOUNTS='[{"name": "wechat-review", "password_hash": "$argon2id$..."}]'``
lists them (a TOML list in a config file works too); ``miniapp review account create --name
wechat-review`` makes a password, prints it once and prints the entry to add. The platforms'
review consoles take a username and a password, so that is what a reviewer gets (an operator's
token would not fit their form).

A login costs one argon2 check whatever the name (an unknown name is checked against a dummy
hash, so it takes as long and gets the same 401). Wrong passwords are counted per name and per
client network (``security/passwords.py``), so guessing is refused (429) before any hash.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from miniapp_api.security.passwords import HASHER, verify, verify_known

NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
MAX_PASSWORD_CHARS = 128  # argon2 over a megabyte of "password" would be a cheap way to burn CPU
# The embedded default's reviewer (`make run`), documented in the README ("For platform
# review"). Production refuses to start with it configured (settings.production_problems).
DEMO_REVIEWER = "demo-review"
DEMO_PASSWORD = "review-2022-demo"  # noqa: S105  documented on purpose, refused in production


@dataclass(frozen=True)
class Reviewer:
    name: str
    password_hash: str


def new_password(name: str) -> tuple[str, Reviewer]:
    """A fresh password for ``name`` (typable: a reviewer types it into a console form) and the
    entry that recognises it."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError("reviewer names are 1-32 characters: a-z, 0-9, '_' or '-'")
    password = secrets.token_urlsafe(12)
    return password, Reviewer(name, HASHER.hash(password))


def parse_reviewers(raw: Any) -> dict[str, Reviewer]:
    """``REVIEW.ACCOUNTS``: a JSON list (or a TOML list) of ``{"name", "password_hash"}``."""
    entries = json.loads(raw) if isinstance(raw, str) and raw.strip() else raw or []
    if not isinstance(entries, list):
        raise ValueError("MINIAPP_REVIEW__ACCOUNTS must be a JSON list")
    found: dict[str, Reviewer] = {}
    for entry in entries:
        if (
            not isinstance(entry, Mapping)
            or not NAME_PATTERN.fullmatch(str(entry.get("name")))
            or not str(entry.get("password_hash", "")).startswith("$argon2")
        ):
            raise ValueError(
                "each reviewer needs a name (a-z, 0-9, '_', '-') and an argon2 password_hash"
            )
        found[str(entry["name"])] = Reviewer(str(entry["name"]), str(entry["password_hash"]))
    return found


def has_demo_password(reviewer: Reviewer) -> bool:
    """Whether this entry accepts the documented demo password (one argon2 check)."""
    return verify(reviewer.password_hash, DEMO_PASSWORD)


def check_password(reviewers: Mapping[str, Reviewer], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s: one argon2 check, unknown names included
    (``HashingBusy`` when every slot stays taken: 503, ``errors.py``)."""
    reviewer = reviewers.get(name)
    known = reviewer.password_hash if reviewer else None
    matches = verify_known(known, password[:MAX_PASSWORD_CHARS])
    return matches and len(password) <= MAX_PASSWORD_CHARS
