"""The admission gate as WSGI middleware, in front of Flask.

Refusals are answered here with pre-built bytes: no Flask request context, no view, no
template, no database. That keeps a rejection an order of magnitude cheaper than a served
request, which is what lets a worker keep serving at 10x its capacity. So are the kept
results and code screens the gate read with the session (:mod:`.kept`).
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from miniapp_api.admission.gate import AdmissionGate, Refused
from miniapp_api.admission.kept import KeptAnswers
from miniapp_api.overload.renderer import RejectionRenderer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class AdmissionMiddleware:
    def __init__(
        self,
        app: WSGIApplication,
        gate: AdmissionGate,
        rejections: RejectionRenderer,
        kept: KeptAnswers,
    ) -> None:
        self.app = app
        self.gate = gate
        self.rejections = rejections
        self.kept = kept

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outcome = self.gate.admit(environ)
        if outcome is None:
            return self.app(environ, start_response)
        if isinstance(outcome, Refused):
            return self.refuse(outcome, start_response)
        try:
            answered = outcome.kept and self.kept.answer(environ, start_response, outcome.kept)
            return answered or self.app(environ, start_response)
        finally:
            self.gate.finish(outcome)

    def refuse(self, refused: Refused, start_response: StartResponse) -> list[bytes]:
        status, headers, body = self.rejections.render(refused.rejection, refused.channel)
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]
