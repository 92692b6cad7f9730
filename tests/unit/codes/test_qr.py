"""QR symbols of codes: small enough, with a quiet zone, readable by a standard decoder."""

from __future__ import annotations

import io
import re
import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_M

from miniapp_api.codes import qr
from miniapp_api.codes.tokens import CodeClaims, short_masked_name, sign_code
from miniapp_api.settings import SigningKey

# Only QR symbols: the decoder otherwise finds an "EAN" in some random tokens' modules.
QR = zxingcpp.BarcodeFormat.QRCode


def longest_token() -> str:
    """As long as a token gets: 4-character kid, 7-byte name, 4-character ID tail."""
    seed = secrets.token_bytes(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    key = SigningKey("k123", public.public_bytes(Encoding.Raw, PublicFormat.Raw), seed)
    name = short_masked_name("欧**娜")
    assert len(name.encode()) == 7
    # 12 characters, as the service makes them; the date is far enough for a 10-digit "exp".
    code = CodeClaims(secrets.token_urlsafe(9), name, datetime(2286, 1, 1, tzinfo=UTC))
    return sign_code(key, code)


def modules_per_side(version: int) -> int:
    return 17 + 4 * version


def decode(image: Image.Image) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(image, formats=QR)]


def test_the_longest_token_fits_version_10_at_level_m() -> None:
    symbol = qr.symbol(longest_token())
    assert symbol.version <= qr.MAX_VERSION
    assert symbol.error_correction == ERROR_CORRECT_M


def test_a_token_too_long_for_version_10_is_refused() -> None:
    with pytest.raises(qr.CodeTooLong):
        qr.symbol(longest_token() + "x" * 64)


def test_the_png_decodes_to_the_token_and_has_a_quiet_zone() -> None:
    token = longest_token()
    image = Image.open(io.BytesIO(qr.png(token)))
    side = (modules_per_side(qr.symbol(token).version) + 2 * qr.BORDER) * qr.BOX_SIZE
    assert image.size == (side, side)
    assert decode(image) == [token]
    quiet = qr.BORDER * qr.BOX_SIZE
    gray = image.convert("L")
    for box in ((0, 0, side, quiet), (0, 0, quiet, side), (side - quiet, 0, side, side)):
        assert gray.crop(box).getextrema() == (255, 255), box


def test_the_png_survives_a_halved_jpeg_screenshot() -> None:
    token = longest_token()
    image = Image.open(io.BytesIO(qr.png(token))).convert("RGB")
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    jpeg = io.BytesIO()
    small.save(jpeg, format="JPEG", quality=75)
    assert decode(Image.open(io.BytesIO(jpeg.getvalue()))) == [token]


def test_the_svg_draws_the_same_symbol_on_white_with_a_view_box() -> None:
    token = longest_token()
    root = ET.fromstring(qr.svg(token))  # noqa: S314  # our own output, not untrusted input
    ns = "{http://www.w3.org/2000/svg}"
    side = modules_per_side(qr.symbol(token).version) + 2 * qr.BORDER
    assert root.tag == f"{ns}svg"
    assert root.get("viewBox") == f"0 0 {side} {side}"
    assert root.find(f"{ns}rect") is not None
    assert root.find(f"{ns}rect").get("fill") == "white"  # type: ignore[union-attr]
    path = root.find(f"{ns}path")
    assert path is not None

    # Paint the path's unit squares ourselves and let the decoder read the result.
    scale = 8
    canvas = Image.new("L", (side * scale, side * scale), 255)
    draw = ImageDraw.Draw(canvas)
    squares = re.findall(r"M(\d+),(\d+)H", path.get("d", ""))
    assert squares
    for x, y in squares:
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle((left, top, left + scale - 1, top + scale - 1), fill=0)
    assert decode(canvas) == [token]


def test_rendering_is_cached_per_token() -> None:
    token = longest_token()
    assert qr.png(token) is qr.png(token)
    assert qr.svg(token) is qr.svg(token)
