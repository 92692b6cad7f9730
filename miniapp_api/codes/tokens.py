"""The registration code token: a compact JWS (EdDSA / Ed25519) that scanners verify offline.

Header ``{"alg": "EdDSA", "kid"}``; claims ``jti`` (random code id), ``exp`` and ``n`` (masked
name, at most 7 bytes), nothing more: nothing of the ID number, whose full form is the second
factor of the H5 lookup, so a screenshot of the code carries none of it (staff see the last four
characters after a binding scan, from the database). Every byte
counts: a version 10 QR symbol at error correction M holds 213 bytes, and the signature alone
takes 86. Hence one-letter claims, UTF-8 instead of JSON unicode escapes, and key ids of at most
four characters (checked at start-up).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from miniapp_api.settings import SigningKey

ALGORITHM = "EdDSA"
MAX_NAME_BYTES = 7


class _Utf8JSONEncoder(json.JSONEncoder):
    """``张`` as 3 bytes of UTF-8 instead of a 6-character JSON escape."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(**kwargs)


def short_masked_name(name_masked: str) -> str:
    """``欧**娜`` → ``欧*娜``; shortened further if it would not fit in the symbol."""
    short = name_masked if len(name_masked) <= 3 else name_masked[0] + "*" + name_masked[-1]
    if len(short.encode()) > MAX_NAME_BYTES:
        short = short[0] + "*"
    return short


# The API shows a code's id with the prefix of its kind, as it does a resident's (``r_``) or an
# account's (``a_``). Only at the boundary: the token's signed ``jti`` and the database keep the
# bare id, so every code issued before keeps verifying and scanning unchanged.
# No request takes a code id today; one that does must accept it with and without the prefix.
CODE_ID_PREFIX = "c_"


def public_code_id(code_id: str) -> str:
    """The id the API shows for the bare ``code_id`` (the token's ``jti``)."""
    return CODE_ID_PREFIX + code_id


@dataclass(frozen=True)
class CodeClaims:
    code_id: str
    name_masked: str
    expires_at: datetime
    kid: str = ""


class CodeTokenError(Exception):
    """A scanned token that cannot be accepted."""


class InvalidCodeToken(CodeTokenError):
    """Not ours: bad format, unknown key id, bad signature, tampered, truncated."""


class ExpiredCodeToken(CodeTokenError):
    """Genuine but past its expiry."""


def sign_code(key: SigningKey, claims: CodeClaims) -> str:
    private = Ed25519PrivateKey.from_private_bytes(key.private_key)
    payload = {
        "jti": claims.code_id,
        "exp": int(claims.expires_at.timestamp()),
        "n": short_masked_name(claims.name_masked),
    }
    # typ=None drops the "typ": "JWT" header: fewer bytes in the QR symbol.
    return jwt.encode(
        payload,
        private,
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": None},
        json_encoder=_Utf8JSONEncoder,
    )


def verify_code(token: str, keys: Sequence[SigningKey], now: datetime) -> CodeClaims:
    """Check signature, key id and expiry; raise :class:`InvalidCodeToken` or ``Expired...``."""
    try:
        header = jwt.get_unverified_header(token)
        key = next((k for k in keys if k.kid == header.get("kid")), None)
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidCodeToken("unknown key id or algorithm")
        public = Ed25519PublicKey.from_public_bytes(key.public_key)
        payload = jwt.decode(
            token,
            public,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "require": ["jti", "exp"]},
        )
        claims = CodeClaims(
            code_id=str(payload["jti"]),
            name_masked=str(payload.get("n", "")),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            kid=key.kid,
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise InvalidCodeToken("not a valid registration code") from None
    if claims.expires_at <= now:
        raise ExpiredCodeToken("the registration code has expired")
    return claims
