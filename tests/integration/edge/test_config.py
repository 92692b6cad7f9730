"""The rendered configuration: HAProxy accepts it, and its traffic map is the gate's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flask import Flask

from miniapp_api.admission.routes import RouteClassifier
from miniapp_api.edge import write_config
from miniapp_api.edge.config import traffic_map
from miniapp_api.settings import CONFIG_DIR
from tests.integration.edge.conftest import StartEdge
from tests.integration.edge.running import held_backend

COMMITTED_MAP = CONFIG_DIR / "edge" / "traffic.map"


def test_haproxy_accepts_the_rendered_config_without_warnings(app: Flask, tmp_path: Path) -> None:
    config = write_config(
        app,
        listen="127.0.0.1:8080",
        nodes=["127.0.0.1:8001", "127.0.0.1:8002"],
        threads=16,
        stats="127.0.0.1:8404",
        out=tmp_path / "edge",
    )
    # -dW: zero-warning mode, a warning fails the check.
    checked = subprocess.run(  # noqa: S603 (our own rendered file)
        ["haproxy", "-dW", "-c", "-f", str(config)],  # noqa: S607 (Debian's haproxy on PATH)
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    assert "server node1 127.0.0.1:8001" in text
    assert "server node2 127.0.0.1:8002" in text
    assert "maxconn 16" in text
    assert "prometheus-exporter" in text


def test_the_committed_traffic_map_matches_the_routes(app: Flask) -> None:
    assert COMMITTED_MAP.read_text() == traffic_map(app), (
        "config/edge/traffic.map is stale against the routes' @operation: regenerate it with "
        "`miniapp edge map > config/edge/traffic.map` (in any configured environment, e.g. "
        "the one of `make stack`) and commit it"
    )


def test_haproxy_classifies_every_route_as_the_admission_gate_does(
    app: Flask, start_edge: StartEdge
) -> None:
    classifier = RouteClassifier(app)
    samples = {
        "/api/v1/residents/r1/code": ("GET", "POST", "HEAD", "OPTIONS", "DELETE"),
        "/api/v1/residents/r1/code.png": ("GET", "POST"),
        "/api/v1/me/link-requests/q1/approve": ("POST", "GET"),
        "/api/v1/results/history": ("GET",),
        "/api/v1/results/": ("GET",),  # a redirect to be: unclassified
        "/no/such/route": ("GET",),
    }
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<path:filename>", "a/b.js")
        path = path.replace("<", "").replace(">", "")  # <resident_id> -> resident_id
        samples.setdefault(path, tuple(sorted(rule.methods or ())))
    with held_backend(hold=False) as backend, start_edge([backend.address]) as (haproxy, _):
        map_file = haproxy.config.parent / "traffic.map"
        for path, methods in samples.items():
            for method in methods:
                route = classifier.classify_line(f"{method} {path} HTTP/1.1".encode())
                expected = "exempt" if route.exempt else route.traffic.value
                answer = haproxy.command(f"get map {map_file} {method}{path}")
                found = answer.split('value="')[1].split('"')[0] if "found=yes" in answer else None
                assert (found or "sheddable") == expected, (method, path, answer)
