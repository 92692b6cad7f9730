"""The mini-program client module, its TypeScript declarations and its QR encoder are served
as static files, byte for byte."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest
from flask.testing import FlaskClient

STATIC = resources.files("miniapp_api") / "static"


def test_client_module_is_served_as_javascript(client: FlaskClient) -> None:
    with client.get("/static/miniapp-client.js") as response:
        assert response.status_code == 200
        assert response.mimetype in {"text/javascript", "application/javascript"}
        body = response.get_data()

    assert body == (STATIC / "miniapp-client.js").read_bytes()
    assert b"module.exports" in body
    assert b"X-Queue-Ticket" in body


@pytest.mark.parametrize("name", ["miniapp-client.d.ts", "vendor/qrcode.js"])
def test_its_types_and_qr_encoder_are_served_beside_it(client: FlaskClient, name: str) -> None:
    with client.get(f"/static/{name}") as response:
        assert response.status_code == 200
        assert response.get_data() == (STATIC / name).read_bytes()


def test_the_module_needs_nothing_newer_than_es2017() -> None:
    """The mini-program runtimes of older phones: no optional chaining, no nullish coalescing."""
    body = (STATIC / "miniapp-client.js").read_text(encoding="utf-8")
    without_blocks = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL)
    code = "\n".join(line.split("//")[0] for line in without_blocks.splitlines())
    assert "?." not in code
    assert "??" not in code
    assert ".finally(" not in code  # ES2018


# `make vendor` prints it; qrcode-generator 2.0.4's dist/qrcode.js as published on npm.
QRCODE_SHA256 = "79ec86f82856005b1c887905cfccfcfbec3821ca61c7fd5a952faa5f778f791c"


def test_the_vendored_qr_encoder_is_the_pinned_release() -> None:
    body = (STATIC / "vendor" / "qrcode.js").read_bytes()
    assert hashlib.sha256(body).hexdigest() == QRCODE_SHA256
