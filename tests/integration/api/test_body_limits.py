"""Every route reads at most ``[APP] MAX_BODY_BYTES`` (64 KiB) of body; the batch uploads their
own, larger limits. A larger body is refused with 413 ``body_too_large`` before it is read, so
an unauthenticated caller cannot make every thread buffer gigabytes."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.wiring import wiring_of

LIMIT = 65536


class CountingStream(io.RawIOBase):
    """A body of ``size`` bytes that counts how much of it the app reads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b" " * n
        self.read_bytes += n
        return n


@pytest.mark.parametrize("path", ["/api/v1/auth/wechat", "/api/v1/staff/login", "/api/v1/lookup"])
def test_a_body_past_the_limit_is_refused_unread(client: FlaskClient, path: str) -> None:
    body = CountingStream(2**31)  # 2 GiB announced
    response = client.post(
        path,
        content_type="application/json",
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(body.size)},
    )

    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.get_json()["code"] == "body_too_large"
    assert response.get_json()["detail"] == {"max_bytes": LIMIT}
    assert body.read_bytes == 0


def test_a_chunked_body_is_cut_off_at_the_limit(client: FlaskClient) -> None:
    body = CountingStream(10 * LIMIT)
    response = client.post(
        "/api/v1/auth/wechat",
        content_type="application/json",
        environ_overrides={
            "wsgi.input": body,
            "wsgi.input_terminated": True,  # as gunicorn says of a chunked body
            "HTTP_TRANSFER_ENCODING": "chunked",
        },
    )

    assert response.status_code == 413, response.get_data(as_text=True)
    assert body.read_bytes <= 2 * LIMIT


def test_a_body_within_the_limit_is_read(client: FlaskClient) -> None:
    padding = " " * (LIMIT - 100)
    response = client.post(
        "/api/v1/auth/wechat",
        data='{"code": "x"}' + padding,
        content_type="application/json",
    )

    assert response.status_code not in (413, 500), response.get_data(as_text=True)


def test_the_limit_is_configured(app: Flask) -> None:
    assert wiring_of(app).settings.max_body_bytes == LIMIT
    assert app.config["MAX_CONTENT_LENGTH"] == LIMIT
