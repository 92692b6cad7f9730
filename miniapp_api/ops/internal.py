"""Who may read ``/metrics``, ``/readyz`` and ``/openapi.json``: the internal bind, or operators.

gunicorn listens on ``OPS.INTERNAL_BIND`` (``config/gunicorn.conf.py``) beside the public bind;
a request that arrived there is told apart by its WSGI ``SERVER_PORT``. For a TCP listener
gunicorn sets it from the listening socket (``listener.getsockname()``, in
``gunicorn/http/wsgi.py`` ``create``), never from the client's ``Host`` header (that is read
only for a Unix socket), and its PROXY-protocol support changes only the remote address. The
app's ``ProxyFix`` takes no ``X-Forwarded-Port``; should it ever, the port it saw first (kept in
``werkzeug.proxy_fix.orig``) is still the one read here.

Anyone else needs an operator token (``Authorization: Bearer``, :func:`require_operator`) and
otherwise gets the 401 ``operator_unauthorized`` of the operators' API, in the one error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request

from miniapp_api.ops.auth import require_operator
from miniapp_api.settings import OpsSettings


def arrived_on(environ: Mapping[str, Any], internal_port: str | None) -> bool:
    """Whether the request came in on the internal listener (``internal_port``; ``None``: none)."""
    if internal_port is None:
        return False
    before_proxy_fix = environ.get("werkzeug.proxy_fix.orig") or environ
    return str(before_proxy_fix.get("SERVER_PORT", "")) == internal_port


def require_internal_or_operator(ops: OpsSettings) -> None:
    """Return on the internal bind or for an operator; else 401 (the operators' answer)."""
    if not arrived_on(request.environ, ops.internal_port):
        require_operator()
