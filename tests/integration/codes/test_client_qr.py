"""The QR symbol the mini-program draws itself (``client.qrMatrix``, ``drawQr`` in
``static/miniapp-client.js``, over the vendored qrcode-generator): it decodes with zxing-cpp, as a
sampling site's scanner would, to the very token, at the server's version and error correction.

The module runs in node here, as it runs in the mini-program's JavaScript engine.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw

from miniapp_api.codes import qr
from miniapp_api.codes.tokens import CodeClaims, sign_code
from miniapp_api.settings import SigningKey

MODULE = Path(__file__).resolve().parents[3] / "miniapp_api" / "static" / "miniapp-client.js"
QR = zxingcpp.BarcodeFormat.QRCode
# Reads tokens on stdin; writes, per token, the matrix and the rectangles drawQr filled.
SCRIPT = """
const api = require(process.argv[1]);
const tokens = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = tokens.map((token) => {
  const client = api.createClient({ adapter: { request: () => Promise.reject(new Error('no')) } });
  const matrix = client.qrMatrix(token);
  const rects = [];
  const ctx = { fillStyle: '', drawn: 0,
    fillRect(x, y, w, h) { rects.push([this.fillStyle, x, y, w, h]); },
    draw() { this.drawn += 1; } };
  api.drawQr(ctx, matrix, { size: 400 });
  return { matrix, rects, drawn: ctx.drawn };
});
process.stdout.write(JSON.stringify(out));
"""


def signing_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    return SigningKey(
        "t1",
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ),
        private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        ),
    )


def tokens(count: int) -> list[str]:
    """Code tokens as the server signs them, with names of every byte length a claim takes."""
    key = signing_key()
    names = ["张*丰", "欧*英", "A*", "李*", "Jo*n"]
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    return [
        sign_code(key, CodeClaims(secrets.token_urlsafe(9), names[i % len(names)], expires, "t1"))
        for i in range(count)
    ]


def drawn_by_the_module(given: list[str]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "node runs the mini-program module in these tests"
    done = subprocess.run(  # noqa: S603  # our own argv, no shell
        [node, "-e", SCRIPT, str(MODULE)],
        input=json.dumps(given).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def image_of(matrix: list[list[bool]], *, scale: int = 6, quiet: int = 4) -> Image.Image:
    side = (len(matrix) + 2 * quiet) * scale
    image = Image.new("L", (side, side), 255)
    paint = ImageDraw.Draw(image)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x, y = (c + quiet) * scale, (r + quiet) * scale
                paint.rectangle([x, y, x + scale - 1, y + scale - 1], fill=0)
    return image


def canvas_of(rects: list[list[Any]], size: int = 400) -> Image.Image:
    image = Image.new("L", (size, size), 128)  # neither colour: an unpainted canvas shows
    paint = ImageDraw.Draw(image)
    for style, x, y, w, h in rects:
        paint.rectangle([x, y, x + w - 1, y + h - 1], fill=0 if style == "#000000" else 255)
    return image


def decode(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcodes(image, formats=QR)
    assert len(found) == 1
    return found[0]


def test_the_modules_matrix_decodes_to_the_token_at_the_servers_version_and_level_m() -> None:
    given = tokens(12)
    for token, drawn in zip(given, drawn_by_the_module(given), strict=True):
        matrix = drawn["matrix"]
        server = qr.symbol(token)
        assert len(matrix) == 17 + 4 * int(server.version)  # the same (smallest) version
        assert int(server.version) <= qr.MAX_VERSION

        read = decode(image_of(matrix))

        assert read.text == token
        assert read.ec_level == "M"


def test_draw_qr_paints_a_symbol_that_decodes_with_its_quiet_zone() -> None:
    given = tokens(3)
    for token, drawn in zip(given, drawn_by_the_module(given), strict=True):
        assert drawn["drawn"] == 1  # a legacy canvas context is flushed
        first = drawn["rects"][0]
        assert first == ["#ffffff", 0, 0, 400, 400]  # white first, the quiet zone included
        assert decode(canvas_of(drawn["rects"])).text == token


def test_the_module_refuses_to_draw_what_is_not_a_code_token() -> None:
    node = shutil.which("node")
    assert node is not None
    script = (
        "const api = require(process.argv[1]);"
        "for (const bad of ['', 'has space', '张三', null]) {"
        "  try { api.qrMatrix(bad); process.exit(1); } catch (e) {"
        "    if (!(e instanceof TypeError)) process.exit(2); } }"
    )
    argv = [node, "-e", script, str(MODULE)]
    assert subprocess.run(argv, timeout=60).returncode == 0  # noqa: S603  # our own argv
