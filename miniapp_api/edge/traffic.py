"""``traffic.map``: the traffic class of every route, for HAProxy's ``map_reg``.

Read from the routes' ``@operation(traffic=...)`` through the admission gate's own classifier
(:class:`~miniapp_api.admission.routes.RouteClassifier`), so the edge and the gate cannot
disagree: probes and metrics are ``exempt``, anything unmatched (404, 405) is ``sheddable``.

A key is the method and the URL-decoded path with nothing between them (``GET/api/v1/results``:
a map key ends at the first space). One route can have two classes by method
(``GET``/``POST /api/v1/residents/<id>/code``), so each line lists its methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from werkzeug.exceptions import HTTPException

from miniapp_api.admission.routes import UNCLASSIFIED, RouteClassifier

DEFAULT_CLASS = UNCLASSIFIED.traffic.value  # what the map answers for no line
EXEMPT = "exempt"
HEADER = (
    '# The traffic class of each route, for HAProxy (map_reg on "<METHOD><path>").\n'
    "# Generated from the routes' @operation by `miniapp edge map`; do not edit.\n"
    f"# Unmatched requests are {DEFAULT_CLASS}.\n"
)
_PART = re.compile(r"<(?:(?P<converter>\w+)(?P<args>\(.*?\))?:)?(?P<name>\w+)>")
# A value each converter accepts, to ask werkzeug (and the gate) which route a key reaches.
_SAMPLES = {"default": "x1", "string": "x1", "int": "1", "path": "a/b", "any": None}


@dataclass(frozen=True)
class Line:
    methods: tuple[str, ...]
    pattern: str  # a regular expression over the path
    traffic: str
    sample: str  # a path this pattern matches

    @property
    def key(self) -> str:
        return f"^({'|'.join(self.methods)}){self.pattern}$"


def traffic_lines(app: Flask) -> list[Line]:
    """One line per (route, class) that is not the default; checked against the gate."""
    classifier = RouteClassifier(app)
    adapter = app.url_map.bind("edge")
    lines: list[Line] = []
    every: list[tuple[str, str, str]] = []  # (method, sample, class) of every route
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (len(r.arguments), r.rule))
    for rule in rules:
        pattern, sample = _pattern(rule.rule)
        by_class: dict[str, list[str]] = {}
        for method in sorted(rule.methods or ()):
            try:
                endpoint, _ = adapter.match(sample, method)
            except HTTPException:
                continue
            if endpoint != rule.endpoint:
                continue  # another route answers this method (OPTIONS of a shared path)
            route = classifier.classify_line(f"{method} {sample} HTTP/1.1".encode())
            traffic = EXEMPT if route.exempt else route.traffic.value
            by_class.setdefault(traffic, []).append(method)
            every.append((method, sample, traffic))
        for traffic, methods in sorted(by_class.items()):
            if traffic != DEFAULT_CLASS:
                lines.append(Line(tuple(methods), pattern, traffic, sample))
    for method, sample, traffic in every:
        found = lookup(lines, method, sample)
        if found != traffic:
            raise ValueError(
                f"traffic map: {method} {sample} would be {found} at the edge, {traffic} in the "
                "app (overlapping routes: order them or make their patterns disjoint)"
            )
    return lines


def lookup(lines: list[Line], method: str, path: str) -> str:
    """What HAProxy's ``map_reg`` answers for this request: the first matching line."""
    for line in lines:
        if re.search(line.key, method + path):
            return line.traffic
    return DEFAULT_CLASS


def render_map(lines: list[Line]) -> str:
    width = max((len(line.key) for line in lines), default=0)
    return HEADER + "".join(f"{line.key:<{width}} {line.traffic}\n" for line in lines)


def _pattern(rule: str) -> tuple[str, str]:
    """The regular expression of a werkzeug rule's path, and a path it matches."""
    pattern, sample, at = [], [], 0
    for part in _PART.finditer(rule):
        pattern.append(re.escape(rule[at : part.start()]))
        sample.append(rule[at : part.start()])
        converter = part["converter"] or "default"
        value = _SAMPLES.get(converter)
        if part["args"] or value is None:
            raise ValueError(f"traffic map: converter {part[0]} of {rule} is not supported")
        pattern.append(_REGEX[converter])
        sample.append(value)
        at = part.end()
    pattern.append(re.escape(rule[at:]))
    sample.append(rule[at:])
    return "".join(pattern), "".join(sample)


# The converters' own expressions (werkzeug.routing.converters), without their arguments.
_REGEX = {"default": "[^/]+", "string": "[^/]+", "int": r"\d+", "path": "[^/].*?"}
