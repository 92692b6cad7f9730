"""The JWKS document that lets scanners verify registration codes offline (RFC 7517, 8037)."""

from __future__ import annotations

import base64
from functools import lru_cache

from miniapp_api.codes.schemas import JwkOut, JwksOut
from miniapp_api.settings import SigningKey

# Public by nature and changed only by a deployment; scanners and CDNs may keep it 5 minutes.
# So a new key must be published before it signs anything: deploy it listed after the current
# signing key first, and move it to the front more than max-age later.
CACHE_CONTROL = "public, max-age=300"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=8)
def jwks_json(keys: tuple[SigningKey, ...]) -> str:
    """Every configured key, signing and verify-only, serialized once per key set."""
    return JwksOut(
        keys=[JwkOut(x=b64url(key.public_key), kid=key.kid) for key in keys]
    ).model_dump_json()
