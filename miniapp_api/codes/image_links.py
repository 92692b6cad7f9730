"""Short-lived signed links to a code's PNG, for ``<image src>``, which cannot send a Bearer header.

A link is ``/api/v1/code-images/<resident id>.<code id>.<expiry>.<MAC>.png``: the resident's
public id, the id of the code it was made for (the token's ``jti``, which the code body shows
anyway), the Unix second it lapses and an HMAC-SHA256 over the three. It opens the image of that
code only: a re-issue voids the code, so every link to the old one answers 410 and the new code
body carries a new link, and the ``<image>`` of a page whose link did not change keeps showing
the right code.

The MAC key is derived from the private half of a code signing key (``[CODES] SIGNING_KEYS``),
so there is no new secret to configure or rotate: whoever can mint links could sign codes
anyway. Links are signed with today's signing key and checked against every key that still has
its private half, so a link made just before a rotation keeps working for its few minutes.

A link lives :data:`LINK_SECONDS` to :data:`LINK_SECONDS` + :data:`LINK_STEP_SECONDS`: the
expiry is rounded up to a step, so code bodies built within one step carry the same link (and
the same ``ETag``); kept code screens live at most two minutes (``accountview.VIEW_TTL_SECONDS``),
far less than a link, so a kept body never hands out a lapsed one. It is a bearer credential for
those minutes (the image is the code), like a signed storage URL: HTTPS only, written to our
access lines with its MAC masked (``logging.SIGNED_LINKS``), and worthless once it lapses.

Checking a link costs no I/O until its MAC is right; every refusal is the same 404 (malformed,
forged, another resident's id under my MAC, unknown), or 410 for a genuine link that lapsed or
whose code was re-issued or expired, so an answer never tells whose a link was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.tokens import CodeClaims, short_masked_name, sign_code
from miniapp_api.db import as_utc
from miniapp_api.errors import ApiError, NotFound
from miniapp_api.residents.models import Resident
from miniapp_api.settings import CodeSettings

LINK_SECONDS = 600  # at least this long from when the code body was built
LINK_STEP_SECONDS = 300  # expiries are rounded up to a multiple of this
_MAC_BYTES = 16  # 128 bits: forging one is as hard as guessing a session
_SIGNED = re.compile(
    r"(r_[A-Za-z0-9_-]{1,22})\.([A-Za-z0-9_-]{1,32})\.(\d{10})\.([A-Za-z0-9_-]{22})"
)
NOT_FOUND = "There is no such code image."
GONE = "This link to the code image has lapsed or the code was re-issued: show the code again."


class LinkGone(ApiError):
    """A genuine link that lapsed, or whose code was re-issued or expired."""

    status, code = 410, "code_image_link_expired"


@dataclass(frozen=True)
class LinkedCode:
    resident_id: str
    code_id: str


@lru_cache(maxsize=16)
def link_key(private_key: bytes) -> bytes:
    """The links' MAC key, derived from a code signing key so it is useless for anything else."""
    return hmac.new(private_key, b"miniapp code image link v1", hashlib.sha256).digest()


def expiry(now: float) -> int:
    """When a link made at ``now`` (Unix seconds) lapses: 10 to 15 minutes later."""
    return math.ceil((now + LINK_SECONDS) / LINK_STEP_SECONDS) * LINK_STEP_SECONDS


def sign(codes: CodeSettings, *, resident_id: str, code_id: str, now: float) -> str:
    """The signed part of a link (without ``.png``) to the image of ``code_id``."""
    body = f"{resident_id}.{code_id}.{expiry(now)}"
    return f"{body}.{_mac(link_key(codes.signing_key.private_key), body)}"


def verify(codes: CodeSettings, signed: str, *, now: float) -> LinkedCode:
    """The code a link names; :class:`NotFound` unless we signed it, :class:`LinkGone` once it
    lapsed. No I/O."""
    found = _SIGNED.fullmatch(signed)
    if found is None:
        raise NotFound(NOT_FOUND)
    resident_id, code_id, expires, mac = found.groups()
    body = f"{resident_id}.{code_id}.{expires}"
    keys = [link_key(k.private_key) for k in codes.keys if k.private_key]
    if not any(hmac.compare_digest(mac, _mac(key, body)) for key in keys):
        raise NotFound(NOT_FOUND)
    if int(expires) <= now:
        raise LinkGone(GONE)
    return LinkedCode(resident_id, code_id)


def live_token(session: Session, linked: LinkedCode, *, codes: CodeSettings, now: datetime) -> str:
    """The token of the linked code while it is live (not re-issued, not expired), signed as
    the code screen signs it (``service._issued``); else :class:`LinkGone`. One read."""
    row = session.execute(
        select(Resident, RegistrationCode)
        .join(RegistrationCode, RegistrationCode.resident_id == Resident.id)
        .where(Resident.public_id == linked.resident_id, RegistrationCode.code_id == linked.code_id)
    ).one_or_none()
    session.rollback()  # read-only; hand the connection back
    if row is None:  # a signed link to a code since deleted (its resident was erased)
        raise LinkGone(GONE)
    resident, code = row.Resident, row.RegistrationCode
    if code.revoked_at is not None or as_utc(code.expires_at) <= now:
        raise LinkGone(GONE)
    # The key that issued the code while its private half is configured, else today's: the
    # same choice as the code screen's, so the image equals the one behind the Bearer route.
    key = next((k for k in codes.keys if k.kid == code.kid and k.private_key), codes.signing_key)
    claims = CodeClaims(
        code_id=code.code_id,
        name_masked=short_masked_name(resident.name_masked),
        expires_at=as_utc(code.expires_at),
        kid=key.kid,
    )
    return sign_code(key, claims)


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
