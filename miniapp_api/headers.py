"""The security headers of every answer, set in one place (views may set stricter ones).

Every answer: ``X-Content-Type-Options: nosniff`` (a browser never runs a JSON body or a code
image as something else) and ``Referrer-Policy: no-referrer``. Every HTML page also cannot be
framed (``X-Frame-Options`` and ``frame-ancestors``) or re-based, and runs no plugin, unless
its view set a Content-Security-Policy of its own (the ops console and the H5 lookup set
stricter ones: nonces or hashes for their scripts).
"""

from __future__ import annotations

from flask import Flask, Response

from miniapp_api.accountview import SECURITY_HEADERS

PAGE_POLICY = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
