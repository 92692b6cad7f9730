"""Which traffic class a request belongs to, before any work (its channel: overload.rejection)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from miniapp_api.api import TrafficClass, operation_of

# Probes and metrics must answer during overload; they are never admission-controlled.
EXEMPT_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})


@dataclass(frozen=True)
class Route:
    traffic: TrafficClass
    abusable: bool = False  # fails closed when Redis is unreachable
    exempt: bool = False
    reads: tuple[str, ...] = ()  # account view fields, as templates over the route's arguments

    def view_fields(self, arguments: Mapping[str, Any]) -> list[str]:
        """The account view fields this request reads (``reads`` filled in)."""
        return [template.format_map(arguments) for template in self.reads]


UNCLASSIFIED = Route(TrafficClass.SHEDDABLE)
EXEMPT = Route(TrafficClass.CRITICAL, exempt=True)


class RouteClassifier:
    """Reads the class from the route's ``@operation`` (unclassified routes are sheddable)."""

    def __init__(self, app: Flask) -> None:
        self._url_map = app.url_map
        self._routes: dict[str, Route] = {}
        for endpoint, view in app.view_functions.items():
            described = operation_of(view)
            if endpoint in EXEMPT_ENDPOINTS:
                self._routes[endpoint] = EXEMPT
            elif described is not None:
                self._routes[endpoint] = Route(
                    described.traffic, described.abusable, reads=described.reads
                )

    def classify(self, environ: dict[str, Any]) -> tuple[Route, Mapping[str, Any]]:
        """The request's route and its arguments (from the path)."""
        try:
            endpoint, arguments = self._url_map.bind_to_environ(environ).match()
        except HTTPException:
            # A 404 or 405 to be: cheap, but still admission-controlled.
            return UNCLASSIFIED, {}
        return self._routes.get(str(endpoint), UNCLASSIFIED), arguments

    def classify_line(self, request_line: bytes) -> Route:
        """The class of ``GET /path HTTP/1.1`` (the first line, before anything is parsed)."""
        method, _, rest = request_line.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        try:
            endpoint, _ = self._url_map.bind("door").match(path, method)
        except HTTPException:
            return UNCLASSIFIED
        return self._routes.get(str(endpoint), UNCLASSIFIED)
