"""Which traffic class a request belongs to, before any work (its channel: overload.rejection)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_path_info

from miniapp_api.accountview import KeptScreen
from miniapp_api.api import TrafficClass, operation_of
from miniapp_api.messages.language import language_of

# Probes and metrics must answer during overload; they are never admission-controlled.
EXEMPT_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})
# The blueprints whose authenticated routes take a staff session (``sampling/guard.py``), not
# a resident's: the gate reads the token in the staff namespace and charges the staff quota.
STAFF_BLUEPRINTS = frozenset({"sampling"})


@dataclass(frozen=True)
class Route:
    traffic: TrafficClass
    abusable: bool = False  # fails closed when Redis is unreachable
    exempt: bool = False
    kept: KeptScreen | None = None  # its answer as kept in the caller's account view
    staff: bool = False  # takes a staff session (the staff quota), not a resident's

    def kept_for(
        self, environ: dict[str, Any], arguments: Mapping[str, Any]
    ) -> tuple[KeptScreen, str] | None:
        """The request's kept screen and its field in the account view, if the route has
        one: a screen with words in the caller's language (``Accept-Language``: the results'
        guidance), kept in a field of its own (``results``, ``results@en``)."""
        screen = self.kept
        if screen is None:
            return None
        if screen.language is not None:
            screen = screen.in_(language_of(environ))  # no I/O: cached per header value
        return screen, screen.field_for(arguments)


UNCLASSIFIED = Route(TrafficClass.SHEDDABLE)
EXEMPT = Route(TrafficClass.CRITICAL, exempt=True)


class RouteClassifier:
    """Reads the class from the route's ``@operation`` (unclassified routes are sheddable)."""

    def __init__(self, app: Flask) -> None:
        # One adapter for every request: binding to each environ cost more than the match.
        # Matching reads the adapter only, so the worker's threads share it.
        self._adapter = app.url_map.bind("gate")
        self._routes: dict[str, Route] = {}
        for endpoint, view in app.view_functions.items():
            described = operation_of(view)
            if endpoint in EXEMPT_ENDPOINTS:
                self._routes[endpoint] = EXEMPT
            elif described is not None:
                staff = described.auth and endpoint.partition(".")[0] in STAFF_BLUEPRINTS
                self._routes[endpoint] = Route(
                    described.traffic, described.abusable, kept=described.kept, staff=staff
                )

    def classify(self, environ: dict[str, Any]) -> tuple[Route, Mapping[str, Any]]:
        """The request's route and its arguments (from the path)."""
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            endpoint, arguments = self._adapter.match(get_path_info(environ), method)
        except HTTPException:
            # A 404 or 405 to be: cheap, but still admission-controlled.
            return UNCLASSIFIED, {}
        return self._routes.get(str(endpoint), UNCLASSIFIED), arguments

    def classify_line(self, request_line: bytes) -> Route:
        """The class of ``GET /path HTTP/1.1`` (the first line, before anything is parsed)."""
        method, _, rest = request_line.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        try:
            endpoint, _ = self._adapter.match(path, method)
        except HTTPException:
            return UNCLASSIFIED
        return self._routes.get(str(endpoint), UNCLASSIFIED)
