"""A code's PNG, rendered once per token, kept in Redis.

Rendering costs ~20 ms of pure Python (``qr.py``); the image is a function of the token alone
(code id, expiry, masked name, key id), so every node shares one rendering through Redis, keyed
by the token's SHA-256 (``qr:{<first 32 hex>}:png``, ~1.7 KB; a corrected name or a new key
makes a new token, hence a new key), for :data:`IMAGE_TTL_SECONDS` after it was rendered.
The account view keeps the image too (``miniapp_api/accountview.py``), but a view lives two
minutes; this outlives it, so a resident who opens the code screen again later costs a
database read, not a rendering. SVGs (~27 KB, asked for rarely) stay in the per-worker cache
of ``qr.py``.

Redis sizing: 1.7 KB per code shown within the last hour (a million codes an hour: ~1.7 GB).
"""

from __future__ import annotations

import hashlib
import logging

import redis

from miniapp_api.codes import qr
from miniapp_api.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

IMAGE_TTL_SECONDS = 3600


def png(client: redis.Redis, token: str) -> bytes:
    """The PNG of ``token``, rendered at most once an hour across the nodes. Redis failing
    only costs the rendering."""
    key = f"qr:{{{hashlib.sha256(token.encode()).hexdigest()[:32]}}}:png"
    try:
        found = client.get(key)
    except REDIS_ERRORS:
        found = None
    if isinstance(found, bytes):
        return found
    body = qr.png(token)
    try:
        client.set(key, body, ex=IMAGE_TTL_SECONDS)
    except REDIS_ERRORS:
        log.warning("could not keep a code image; it is rendered again next time")
    return body
