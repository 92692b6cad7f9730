"""The QR symbol of a registration code, as PNG and SVG, made to scan from a phone screenshot.

Error correction M and at most version 10 (57 modules a side), so that a screenshot shrunk to
half size and saved as a JPEG still decodes; Q would need version 13 for our tokens. Rendering
costs tens of milliseconds (qrcode is pure Python), and a code's token, hence its image, never
changes, so rendered images are kept per token in a small per-worker cache.
"""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

MAX_VERSION = 10
BOX_SIZE = 10  # pixels per module: still 5 after a screenshot is halved, above JPEG's blur
BORDER = 4  # the quiet zone ISO/IEC 18004 asks for, in modules
CACHED_IMAGES = 256


class CodeTooLong(ValueError):
    """The token needs a QR version above :data:`MAX_VERSION` (see ``codes/tokens.py``)."""


def symbol(token: str) -> qrcode.QRCode:
    """The smallest symbol at error correction M holding ``token``; at most version 10."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=BOX_SIZE, border=BORDER)
    qr.add_data(token)
    qr.make(fit=True)
    if int(qr.version) > MAX_VERSION:
        raise CodeTooLong(f"{len(token)} characters need QR version {qr.version}")
    return qr


@lru_cache(maxsize=CACHED_IMAGES)
def png(token: str) -> bytes:
    """Black on white, 1 bit per pixel."""
    buffer = io.BytesIO()
    symbol(token).make_image(image_factory=PilImage).save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=CACHED_IMAGES)
def svg(token: str) -> bytes:
    """One path on a white background (so it also scans shown on a dark page), with a viewBox."""
    buffer = io.BytesIO()
    symbol(token).make_image(image_factory=SvgPathFillImage).save(buffer)
    return buffer.getvalue()
