"""The mini-program client module (overload protection, client half) is served as a static file."""

from __future__ import annotations

from importlib import resources

from flask.testing import FlaskClient

MODULE = resources.files("miniapp_api") / "static" / "miniapp-client.js"


def test_client_module_is_served_as_javascript(client: FlaskClient) -> None:
    with client.get("/static/miniapp-client.js") as response:
        assert response.status_code == 200
        assert response.mimetype in {"text/javascript", "application/javascript"}
        body = response.get_data()

    assert body == MODULE.read_bytes()
    assert b"module.exports" in body
    assert b"X-Queue-Ticket" in body
