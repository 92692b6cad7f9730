"""The admission gate as WSGI middleware, in front of Flask.

Refusals are answered here with pre-built bytes: no Flask request context, no view, no
template, no database. That keeps a rejection an order of magnitude cheaper than a served
request, which is what lets a worker keep serving at 10x its capacity.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from miniapp_api.overload.admission import AdmissionGate, Refused
from miniapp_api.overload.rejection import Context, Rejection, render

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class AdmissionMiddleware:
    def __init__(
        self,
        app: WSGIApplication,
        gate: AdmissionGate,
        *,
        platforms: tuple[str, ...],
        lookup_url: str,
    ) -> None:
        self.app = app
        self.gate = gate
        self.platforms = platforms
        self.lookup_url = lookup_url

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outcome = self.gate.admit(environ)
        if outcome is None:
            return self.app(environ, start_response)
        if isinstance(outcome, Refused):
            return self.refuse(outcome, start_response)
        try:
            return self.app(environ, start_response)
        finally:
            self.gate.finish(outcome)

    def context(self, channel: str) -> Context:
        return Context(channel, self.platforms, self.gate.controls.platforms, self.lookup_url)

    def render(self, rejection: Rejection, channel: str) -> tuple[int, dict[str, str], bytes]:
        return render(rejection, self.context(channel))

    def refuse(self, refused: Refused, start_response: StartResponse) -> list[bytes]:
        status, headers, body = self.render(refused.rejection, refused.channel)
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]


def gate_of(app: Any) -> AdmissionGate | None:
    """The gate installed on a Flask app, if admission control is on."""
    found = getattr(app, "wsgi_app", None)
    return found.gate if isinstance(found, AdmissionMiddleware) else None
