"""The alerting rules and the Grafana dashboard of ``config/``: promtool checks and unit-tests the
rules, and every metric they name is one the app exports or one of HAProxy's exporter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

CONFIG = Path(__file__).resolve().parents[3] / "config"
RULES = CONFIG / "prometheus" / "alerts.yml"
RULE_TESTS = CONFIG / "prometheus" / "alerts.test.yml"
DASHBOARD = CONFIG / "grafana" / "miniapp-overview.json"
METRIC_NAME = re.compile(r"\b(?:miniapp|haproxy)_[a-z0-9_]+\b")
# Names of HAProxy 2.6's Prometheus exporter (Debian's haproxy 2.6.12, `http-request
# use-service prometheus-exporter`) that the rules and the dashboard may use. Add a name here
# only after seeing it on a running HAProxy's /metrics.
HAPROXY_METRICS = frozenset(
    {
        "haproxy_frontend_http_requests_total",
        "haproxy_frontend_http_responses_total",
        "haproxy_frontend_request_errors_total",
        "haproxy_backend_current_queue",
        "haproxy_backend_response_errors_total",
        "haproxy_backend_server_aborts_total",
        "haproxy_backend_http_requests_total",
        "haproxy_backend_http_responses_total",
        "haproxy_backend_queue_time_average_seconds",
        "haproxy_backend_total_time_average_seconds",
        "haproxy_backend_active_servers",
        "haproxy_server_current_queue",
        "haproxy_server_current_sessions",
        "haproxy_server_limit_sessions",
        "haproxy_server_http_responses_total",
    }
)
# The sample names a family of each type puts on /metrics.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: install Debian's `prometheus` package "
            "(apt-get install prometheus; .ci/machine does) to check config/prometheus/"
        )
    return subprocess.run(  # noqa: S603  # our own argv, no shell, no outside input
        [found, *args], capture_output=True, text=True, timeout=60, check=False, cwd=RULES.parent
    )


def test_the_alerting_rules_are_valid() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_on_its_failure_and_not_on_its_look_alike() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_and_says_what_to_do() -> None:
    tests = RULE_TESTS.read_text()
    blocks = re.split(r"^\s+- alert: ", RULES.read_text(), flags=re.MULTILINE)[1:]
    assert blocks
    for block in blocks:
        alert = block.split("\n", 1)[0].strip()
        assert f"alertname: {alert}" in tests, f"{alert} has no case in {RULE_TESTS.name}"
        # promtool checks the syntax; these are the house rules for an alert.
        for needed in ("for:", "severity:", "summary:", "description:", "README.md"):
            assert needed in block, f"{alert} has no {needed}"


def used_metric_names() -> dict[str, set[str]]:
    """``{metric name: {files naming it}}`` over the rules and the dashboard's queries."""
    exprs = [
        t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p.get("targets", [])
    ]
    used: dict[str, set[str]] = {}
    for source, text in ((RULES.name, RULES.read_text()), (DASHBOARD.name, "\n".join(exprs))):
        for name in METRIC_NAME.findall(text):
            used.setdefault(name, set()).add(source)
    return used


def exported_names(client: FlaskClient, auth: dict[str, str]) -> set[str]:
    """Every sample name /metrics declares, observed yet or not."""
    text = client.get("/metrics", headers=auth).get_data(as_text=True)
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_the_rules_and_dashboard_use_is_exported(
    ops_client: FlaskClient, operator_auth: dict[str, str]
) -> None:
    for path in ("/api/v1/codes/keys", "/api/v1/me", "/api/v1/results/history"):
        assert ops_client.get(path).status_code in (200, 401)
    exported = exported_names(ops_client, operator_auth)

    used = used_metric_names()
    assert any(n.startswith("miniapp_") for n in used)
    assert any(n.startswith("haproxy_") for n in used)
    unknown = {
        name: sorted(files)
        for name, files in used.items()
        if name not in exported and name not in HAPROXY_METRICS
    }
    assert unknown == {}, (
        "metrics named in config/ that neither the app's /metrics nor HAProxy's exporter has "
        f"(renamed?): {unknown}"
    )


def test_admitted_requests_are_timed_for_the_latency_rules(
    ops_client: FlaskClient, operator_auth: dict[str, str]
) -> None:
    def counts() -> dict[str, float]:
        text = ops_client.get("/metrics", headers=operator_auth).get_data(as_text=True)
        return {
            s.labels["traffic_class"]: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "miniapp_request_duration_seconds_count"
        }

    before = counts().get("critical", 0.0)
    assert ops_client.get("/api/v1/codes/keys").status_code == 200
    assert counts().get("critical", 0.0) == before + 1, (
        "miniapp_request_duration_seconds is not observed: AdmissionGate.finish must call "
        "metrics.observe_duration(admitted.traffic.value, seconds)"
    )
