"""The admission gate as WSGI middleware, in front of Flask.

Refusals are answered here with pre-built bytes: no Flask request context, no view, no
template, no database. That keeps a rejection an order of magnitude cheaper than a served
request, which is what lets a worker keep serving at 10x its capacity. So are the kept
results and code screens the gate read with the session (:mod:`.kept`). Each carries an
``X-Request-ID`` (the client's if sane, else a new one), as every answer of Flask's does.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from miniapp_api.admission.gate import AdmissionGate, Refused
from miniapp_api.admission.kept import KeptAnswers
from miniapp_api.logging import REQUEST_ID_HEADER, request_id_from
from miniapp_api.messages.language import language_of
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
            return self.refuse(outcome, environ, start_response)
        try:
            answered = outcome.kept and self.kept.answer(environ, start_response, outcome.kept)
            # A 304 is answered with no body: an empty list, which is an answer all the same.
            return self.app(environ, start_response) if answered is None else answered
        finally:
            self.gate.finish(outcome)

    def refuse(
        self, refused: Refused, environ: WSGIEnvironment, start_response: StartResponse
    ) -> list[bytes]:
        language = language_of(environ)  # Accept-Language: zh by default, or en
        status, headers, body = self.rejections.render(refused.rejection, refused.channel, language)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [*headers.items(), (REQUEST_ID_HEADER, request_id)],
        )
        return [body]
