"""Let the simulator page (served by our app, another origin) call the ``/_emulator`` controls.

Only the control endpoints are opened: they play the phone, which in the simulator is the
browser. The emulated platform APIs stay same-origin only, as the real ones are server-to-server.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTROL_PREFIX = "/_emulator/"


def allow_cross_origin(app: Flask) -> None:
    """Answer preflights and add ``Access-Control-Allow-Origin: *`` under ``/_emulator/``."""

    @app.before_request
    def preflight() -> Response | None:
        # Answered here, before routing: the control routes take no OPTIONS and would say 405.
        if request.method != "OPTIONS" or not request.path.startswith(CONTROL_PREFIX):
            return None
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    def allow_origin(response: Response) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response
