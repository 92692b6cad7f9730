"""Lab request signing: per-lab HMAC-SHA256 signatures, fresh timestamps, single-use nonces.

The signing recipe, for a lab's integrators (also in the README, "The screening journey")
-------------------------------------------------------

Every request to ``/api/v1/lab/...`` carries four headers:

``X-Lab-Id``
    the lab id printed by ``miniapp labs create`` (e.g. ``lab_3f9a1c0e5b7d``)
``X-Timestamp``
    the current time as Unix seconds (an integer, UTC); refused if more than
    ``LAB.TIMESTAMP_TOLERANCE_SECONDS`` (default 300) away from the server's clock
``X-Nonce``
    8 to 64 characters from ``A-Z a-z 0-9 _ -``, fresh for every request (e.g. 16 random hex
    digits); a nonce seen from the same lab within ``LAB.NONCE_TTL_SECONDS`` is refused
``X-Signature``
    hex (lowercase or uppercase) HMAC-SHA256, keyed with the lab secret exactly as printed
    (its UTF-8 bytes, not base64-decoded), over the string to sign::

        METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + hex(SHA-256(body))

    ``METHOD`` is upper case; ``PATH`` is the request path without scheme, host or query string
    (``/api/v1/lab/results``); ``TIMESTAMP`` and ``NONCE`` are the header values as sent;
    the body hash is the lowercase hex SHA-256 of the exact body bytes sent (of the empty
    string when there is no body).

Uploads also send ``Idempotency-Key`` (1 to 128 printable ASCII characters, one per batch,
reused only to retry that same batch); see :mod:`miniapp_api.lab.idempotency`.

Worked example. Secret ``lab-secret-example-0123456789``, ``POST /api/v1/lab/results`` at
``X-Timestamp: 1647399600`` with ``X-Nonce: 8f14e45fceea167a`` and the body (no spaces, no
trailing newline)::

    {"results":[{"tube_no":"T0001","result":"negative","tested_at":"2022-03-16T10:30:00+08:00"}]}

    hex(SHA-256(body)) = 469be9769dcc4c1ec3d31b8e184deef8eaca761f59d96cd6513314dd0cf9a906
    string to sign     = "POST\\n/api/v1/lab/results\\n1647399600\\n8f14e45fceea167a\\n"
                         "469be9769dcc4c1ec3d31b8e184deef8eaca761f59d96cd6513314dd0cf9a906"
    X-Signature        = 712b57bd0bd15cc53a2ccb1ac3553247a5eeeeca2ef070ce49e9545b7119a426

In Python::

    body_hash = hashlib.sha256(body).hexdigest()
    to_sign = "\\n".join([method, path, timestamp, nonce, body_hash])
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()

With ``openssl``: ``printf '%s' "$BODY" | sha256sum`` for the hash, then
``printf 'POST\\n%s\\n%s\\n%s\\n%s' "$PATH" "$TS" "$NONCE" "$HASH" |
openssl dgst -sha256 -hmac "$SECRET"``.

A refused signature answers 401 with ``detail.string_to_sign``: what the server signed, to
compare with what the lab signed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import as_utc
from miniapp_api.errors import ServiceUnavailable, Unauthorized
from miniapp_api.redis_client import REDIS_ERRORS
from miniapp_api.sampling.models import Lab
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import LabSettings

_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_LAB_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedRequest:
    """What the signature covers, plus the four authentication headers as sent."""

    method: str
    path: str
    body: bytes
    lab_id: str
    timestamp: str
    nonce: str
    signature: str


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((method.upper(), path, timestamp, nonce, body_sha256(body)))


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Signature`` a lab sends (this is also what tests and client scripts use)."""
    message = string_to_sign(method, path, timestamp, nonce, body).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def authenticate(
    session: Session,
    signed: SignedRequest,
    *,
    client: redis.Redis,
    crypto: PersonalDataCrypto,
    settings: LabSettings,
    now: datetime,
) -> Lab:
    """The lab that signed ``signed``, or 401; 503 when Redis cannot record the nonce.

    Order: header format, timestamp window (no database work for stale replays), the lab and
    its signature, and only then the nonce, so that unsigned requests cannot burn nonces.
    """
    _check_format(signed)
    if abs(now.timestamp() - int(signed.timestamp)) > settings.timestamp_tolerance_seconds:
        raise Unauthorized(
            "X-Timestamp is too far from the server's clock; sync the clock (NTP) and sign again.",
            code="stale_timestamp",
            detail={"tolerance_seconds": settings.timestamp_tolerance_seconds},
        )
    with session.begin():
        lab = session.scalars(select(Lab).where(Lab.lab_id == signed.lab_id)).one_or_none()
    expected = string_to_sign(
        signed.method, signed.path, signed.timestamp, signed.nonce, signed.body
    )
    # An unknown lab is answered exactly like a wrong signature: ids cannot be probed.
    if lab is None or not _signature_matches(crypto, lab, expected, signed.signature, now):
        raise Unauthorized(
            "The request signature does not verify: check X-Lab-Id, the secret and the string "
            "to sign (METHOD, PATH, X-Timestamp, X-Nonce, hex SHA-256 of the body, joined by "
            "newlines).",
            code="invalid_signature",
            detail={"string_to_sign": expected},
        )
    _use_nonce(client, settings, lab.lab_id, signed.nonce)
    return lab


def _check_format(signed: SignedRequest) -> None:
    problems = [
        name
        for name, value, pattern in (
            ("X-Lab-Id", signed.lab_id, _LAB_ID),
            ("X-Timestamp", signed.timestamp, _TIMESTAMP),
            ("X-Nonce", signed.nonce, _NONCE),
            ("X-Signature", signed.signature, _SIGNATURE),
        )
        if not pattern.fullmatch(value)
    ]
    if problems:
        raise Unauthorized(
            "Sign lab requests: X-Lab-Id, X-Timestamp (Unix seconds), X-Nonce (8-64 of "
            "A-Za-z0-9_-) and X-Signature (hex HMAC-SHA256) are required.",
            code="lab_signature_required",
            detail={"missing_or_malformed": problems},
        )


def _signature_matches(
    crypto: PersonalDataCrypto, lab: Lab, expected: str, sent: str, now: datetime
) -> bool:
    """Whether ``sent`` is the signature under the lab's secret, or under its previous one
    while a rotation's overlap lasts (``miniapp labs rotate-secret``)."""
    if _signed_with(crypto, lab.secret_enc, expected, sent):
        return True
    until = lab.previous_secret_until
    if lab.previous_secret_enc is None or until is None or as_utc(until) <= now:
        return False
    if not _signed_with(crypto, lab.previous_secret_enc, expected, sent):
        return False
    # What tells the operator the lab has not switched yet (the overlap is ending).
    log.warning(
        "lab %s signed with its previous secret, accepted until %s",
        lab.lab_id,
        as_utc(until).isoformat(),
    )
    return True


def _signed_with(crypto: PersonalDataCrypto, secret_enc: bytes, expected: str, sent: str) -> bool:
    secret = crypto.decrypt(LAB_SECRET_PURPOSE, secret_enc)
    good = hmac.new(secret.encode(), expected.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(good.encode(), sent.lower().encode())


def _use_nonce(client: redis.Redis, settings: LabSettings, lab_id: str, nonce: str) -> None:
    """Record the nonce (SET NX EX); a nonce seen before is a replay.

    Fails closed: without Redis a replay could not be told apart, so the upload waits (503).
    """
    key = f"labnonce:{{{lab_id}}}:{nonce}"
    # A timestamp is accepted for 2 x tolerance of real time: the nonce must outlive that.
    ttl = max(settings.nonce_ttl_seconds, 2 * settings.timestamp_tolerance_seconds + 60)
    try:
        fresh = client.set(key, b"1", nx=True, ex=ttl)
    except REDIS_ERRORS:
        raise ServiceUnavailable.retry_later(
            "Lab uploads are paused for a moment (replay protection is unavailable); "
            "retry the same request with a new nonce and signature.",
            code="lab_auth_unavailable",
            base_seconds=5.0,
        ) from None
    if not fresh:
        raise Unauthorized(
            "This X-Nonce was used before; use a fresh nonce for every request.",
            code="nonce_reused",
        )
