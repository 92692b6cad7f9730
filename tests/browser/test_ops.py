"""The ops console (GET /ops) in headless Chromium: token, read-only switch, a refused value,
the chart of admitted and refused requests per class, the edge's queue, refusals and nodes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.serving import make_server

from channels.emulator import RunningEmulator
from miniapp_api.ops.auth import new_token
from tests.browser.conftest import by_testid, console_errors, wait
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.sensitive import TOKENS

SCREENSHOT = "/tmp/ops.png"


@pytest.fixture(scope="module")
def operator_token() -> tuple[str, str]:
    token, entry = new_token("alice")
    TOKENS.add(token)
    return token, entry.token_hash


@contextmanager
def served_console(
    platform_keys: PlatformKeys,
    emulator_url: str,
    postgres_url: str,
    operator_hash: str,
    **ops: str,
) -> Iterator[str]:
    """An app with ``alice`` as its operator (and these OPS settings), served on a free
    loopback port; its base URL."""
    from miniapp_api import create_app

    overrides = app_overrides(platform_keys, emulator_url, postgres_url, REDIS_URL)
    overrides["OPS"] = {
        "OPERATORS": json.dumps([{"name": "alice", "token_hash": operator_hash}]),
        **ops,
    }
    app: Flask = create_app(overrides)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-ops", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["miniapp"].db.dispose()


@pytest.fixture(scope="module")
def ops_url(
    chromium: object,
    platform_keys: PlatformKeys,
    emulator_server: RunningEmulator,
    postgres_url: str,
    operator_token: tuple[str, str],
) -> Iterator[str]:
    """An app with ``alice`` as its operator and no edge, served on a free loopback port."""
    with served_console(
        platform_keys, emulator_server.base_url, postgres_url, operator_token[1]
    ) as url:
        yield url


def idle(driver: WebDriver) -> None:
    body = driver.find_element("tag name", "body")
    wait(driver).until(lambda _: body.get_attribute("data-busy") == "false")


def sign_in(driver: WebDriver, url: str, token: str) -> None:
    driver.get(url + "/ops")
    wait(driver).until(
        lambda d: (
            by_testid(d, "ops-form")
            and d.execute_script("return document.body.dataset.ready") == "true"
        )
    )
    by_testid(driver, "ops-token").send_keys(token)
    by_testid(driver, "ops-login").click()
    state = by_testid(driver, "ops-auth-state")
    wait(driver).until(lambda _: state.get_attribute("data-state") != "out")


@pytest.mark.browser
@pytest.mark.postgres
def test_an_operator_switches_read_only_on_and_a_bad_value_is_explained(
    driver: WebDriver, ops_url: str, operator_token: tuple[str, str], redis_client: redis.Redis
) -> None:
    sign_in(driver, ops_url, operator_token[0])
    assert by_testid(driver, "ops-auth-state").get_attribute("data-state") == "in"
    assert by_testid(driver, "ops-version").text == "0"
    assert by_testid(driver, "ops-current-read_only").get_attribute("data-value") == "false"

    by_testid(driver, "mode-read_only").click()
    by_testid(driver, "ops-save").click()
    idle(driver)

    assert by_testid(driver, "ops-error").text == ""
    assert by_testid(driver, "ops-version").text == "1"
    assert by_testid(driver, "ops-updated-by").text == "alice"
    # updated_at is RFC 3339 now (it was epoch seconds): a date the page can read.
    updated_at = driver.execute_script("return document.getElementById('updated-at').textContent")
    assert updated_at.startswith("at "), updated_at
    assert "Invalid" not in updated_at
    assert by_testid(driver, "ops-current-read_only").get_attribute("data-value") == "true"
    stored = json.loads(redis_client.get("overload:{ctl}:doc") or "{}")
    assert stored["modes"]["read_only"] is True

    share = by_testid(driver, "limit-share_normal")
    share.clear()
    share.send_keys("5")
    by_testid(driver, "ops-save").click()
    idle(driver)

    error = by_testid(driver, "ops-error")
    assert error.is_displayed()
    assert "422" in error.text
    assert "limits.share_normal" in error.text
    assert by_testid(driver, "ops-version").text == "1"  # nothing saved

    # The token lives in this tab's sessionStorage only; a reload keeps the operator in.
    assert driver.execute_script("return localStorage.length") == 0
    assert (
        driver.execute_script("return sessionStorage.getItem('miniapp.ops.token')")
        == (operator_token[0])
    )
    driver.refresh()
    state = by_testid(driver, "ops-auth-state")
    wait(driver).until(lambda _: state.get_attribute("data-state") == "in")
    assert by_testid(driver, "mode-read_only").is_selected()
    driver.save_screenshot(SCREENSHOT)
    assert [e for e in console_errors(driver) if "/api/v1/ops/limits" not in e] == []


@pytest.mark.browser
@pytest.mark.postgres
def test_a_wrong_token_is_refused_and_the_counters_show_admissions(
    driver: WebDriver, ops_url: str, operator_token: tuple[str, str], redis_client: redis.Redis
) -> None:
    sign_in(driver, ops_url, "alice.not-the-token")
    idle(driver)

    assert by_testid(driver, "ops-auth-state").get_attribute("data-state") == "refused"
    assert "401" in by_testid(driver, "ops-error").text
    # /metrics answers operators only: a refused token reads no counters.
    counters_at = by_testid(driver, "ops-counters-at")
    wait(driver, 10).until(lambda _: counters_at.text == "(metrics unavailable)")

    sign_in(driver, ops_url, operator_token[0])
    idle(driver)

    # The page's own GET /api/v1/ops/limits was admitted (critical, channel "other"), and the
    # page read it from /metrics with the operator token.
    def admitted_rows(d: WebDriver) -> list[str]:
        rows = d.find_elements("css selector", '[data-testid="counter-row"]')
        return [r.get_attribute("data-key") or "" for r in rows]

    wait(driver, 10).until(lambda d: "critical/other/admitted/ok" in admitted_rows(d))


def series(driver: WebDriver, outcome: str) -> dict[str, tuple[int, float]]:
    """``{class: (points, peak requests/s)}`` of the paths drawn in one chart, read in one
    script call (the page redraws every 3 s, which would leave elements found earlier stale)."""
    drawn: list[list[str]] = driver.execute_script(
        """
        const chart = '[data-testid="ops-chart-' + arguments[0] + '"]';
        const paths = document.querySelectorAll(
          chart + ' path[data-outcome="' + arguments[0] + '"]');
        return Array.from(paths, (p) => [
          p.dataset.class, p.dataset.points, p.dataset.peak, p.getAttribute('d')]);
        """,
        outcome,
    )
    found: dict[str, tuple[int, float]] = {}
    for name, points, peak, d in drawn:
        assert d.startswith("M"), name
        found[name] = (int(points), float(peak))
    return found


@pytest.mark.browser
@pytest.mark.postgres
def test_the_console_charts_admitted_and_refused_requests_per_class(
    driver: WebDriver, ops_url: str, operator_token: tuple[str, str], redis_client: redis.Redis
) -> None:
    sign_in(driver, ops_url, operator_token[0])  # the counters come from /metrics: operators
    wait(driver).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
    assert driver.title.startswith("运维控制台")
    assert "Operations console" in driver.title
    heading = driver.find_element("css selector", "h1").text
    assert heading.startswith("运维控制台")
    assert "Operations console" in heading

    # A cap of 1/s on sheddable traffic (run-time controls) refuses most of a burst of it;
    # each class is admitted at least once (normal and sheddable then answer 401: no session).
    auth = {"Authorization": f"Bearer {operator_token[0]}"}
    with requests.Session() as http:
        current = http.get(ops_url + "/api/v1/ops/limits", headers=auth, timeout=5).json()
        limits = {**current["limits"], "class_rates": {"sheddable": 1.0}}
        saved = http.put(
            ops_url + "/api/v1/ops/limits",
            json={"limits": limits, "modes": current["modes"]},
            headers=auth,
            timeout=5,
        )
        assert saved.status_code == 200, saved.text
        for path in ("/api/v1/codes/keys", "/api/v1/me", "/api/v1/results/history"):
            assert http.get(ops_url + path, timeout=5).status_code in (200, 401)
        statuses: list[int] = []
        deadline = time.monotonic() + 5  # the workers apply the cap within a second
        while 503 not in statuses and time.monotonic() < deadline:
            statuses += [http.get(ops_url + "/api/v1/results/history", timeout=5).status_code]
    assert 503 in statuses

    # The page turns the counters into rates between samples (every 3 s): two points per
    # series after the second rate; peaks above zero are this test's requests.
    def drawn(d: WebDriver) -> bool:
        admitted, refused = series(d, "admitted"), series(d, "rejected")
        return all(
            admitted.get(c, (0, 0.0))[0] >= 2 and admitted[c][1] > 0
            for c in ("critical", "normal", "sheddable")
        ) and (refused.get("sheddable", (0, 0.0))[0] >= 2 and refused["sheddable"][1] > 0)

    wait(driver, 20).until(drawn)
    share = by_testid(driver, "legend-refused-share").text
    assert share.startswith("refused share now:")
    driver.save_screenshot("/tmp/ops-chart.png")
    assert console_errors(driver) == []  # the nonce policy let the page's script and style run


# --- the edge panel: HAProxy's metrics, as its exporter writes them, from a stand-in ---------


class FakeEdge:
    """HAProxy's stats port as the app reads it: ``/metrics`` in the exporter's format, whose
    counters grow at each scrape (10 refused on arrival, 2 from the queue, 4 over quota), one
    node up and one down; or a 503 while ``down``."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.down = False

    def metrics(self) -> str:
        self.scrapes += 1
        n = self.scrapes
        backend_5xx = 1 + 2 * n  # the node's own one 503, and the queue's
        return f"""# HELP haproxy_frontend_http_responses_total Total number of HTTP responses.
# TYPE haproxy_frontend_http_responses_total counter
haproxy_frontend_http_responses_total{{proxy="miniapp",code="2xx"}} {100 * n}
haproxy_frontend_http_responses_total{{proxy="miniapp",code="4xx"}} {2 + 1 + 4 * n}
haproxy_frontend_http_responses_total{{proxy="miniapp",code="5xx"}} {backend_5xx + 10 * n}
haproxy_frontend_http_responses_total{{proxy="stats",code="2xx"}} {n}
# TYPE haproxy_frontend_request_errors_total counter
haproxy_frontend_request_errors_total{{proxy="miniapp"}} 1
# TYPE haproxy_backend_current_queue gauge
haproxy_backend_current_queue{{proxy="edge_addresses"}} 0
haproxy_backend_current_queue{{proxy="app"}} {3 + n % 4}
# TYPE haproxy_backend_max_queue gauge
haproxy_backend_max_queue{{proxy="app"}} 12
# TYPE haproxy_backend_http_responses_total counter
haproxy_backend_http_responses_total{{proxy="app",code="2xx"}} {100 * n}
haproxy_backend_http_responses_total{{proxy="app",code="4xx"}} 2
haproxy_backend_http_responses_total{{proxy="app",code="5xx"}} {backend_5xx}
# TYPE haproxy_server_status gauge
haproxy_server_status{{proxy="app",server="node1",state="DOWN"}} 0
haproxy_server_status{{proxy="app",server="node1",state="UP"}} 1
haproxy_server_status{{proxy="app",server="node2",state="DOWN"}} 1
haproxy_server_status{{proxy="app",server="node2",state="UP"}} 0
# TYPE haproxy_server_check_status gauge
haproxy_server_check_status{{proxy="app",server="node1",state="L7OK"}} 1
haproxy_server_check_status{{proxy="app",server="node2",state="L7OK"}} 0
haproxy_server_check_status{{proxy="app",server="node2",state="L4CON"}} 1
# TYPE haproxy_server_current_sessions gauge
haproxy_server_current_sessions{{proxy="app",server="node1"}} 32
haproxy_server_current_sessions{{proxy="app",server="node2"}} 0
# TYPE haproxy_server_limit_sessions gauge
haproxy_server_limit_sessions{{proxy="app",server="node1"}} 32
haproxy_server_limit_sessions{{proxy="app",server="node2"}} 32
# TYPE haproxy_server_queue_limit gauge
haproxy_server_queue_limit{{proxy="app",server="node1"}} NaN
# TYPE haproxy_server_http_responses_total counter
haproxy_server_http_responses_total{{proxy="app",server="node1",code="2xx"}} {100 * n}
haproxy_server_http_responses_total{{proxy="app",server="node1",code="5xx"}} 1
"""


@pytest.fixture(scope="module")
def fake_edge() -> Iterator[tuple[FakeEdge, str]]:
    """The stand-in and its ``/metrics`` URL."""
    edge = FakeEdge()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, body = (503, b"") if edge.down else (200, edge.metrics().encode())
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-edge", daemon=True)
    thread.start()
    yield edge, f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def edge_ops_url(
    chromium: object,
    platform_keys: PlatformKeys,
    emulator_server: RunningEmulator,
    postgres_url: str,
    operator_token: tuple[str, str],
    fake_edge: tuple[FakeEdge, str],
) -> Iterator[str]:
    """The console's app, reading the stand-in edge's metrics."""
    with served_console(
        platform_keys,
        emulator_server.base_url,
        postgres_url,
        operator_token[1],
        EDGE_METRICS_URL=fake_edge[1],
    ) as url:
        yield url


def edge_lines(driver: WebDriver, chart: str) -> dict[str, tuple[int, float]]:
    """``{series: (points, peak)}`` of the lines drawn in an edge chart, in one script call."""
    drawn: list[list[str]] = driver.execute_script(
        """
        const paths = document.querySelectorAll(
          '[data-testid="ops-chart-edge-' + arguments[0] + '"] path');
        return Array.from(paths, (p) => [
          p.dataset.backend || p.dataset.refusal, p.dataset.points, p.dataset.peak]);
        """,
        chart,
    )
    return {name: (int(points), float(peak)) for name, points, peak in drawn}


def edge_state(driver: WebDriver) -> str:
    state: str = driver.execute_script(
        "return document.querySelector('[data-testid=\"ops-edge\"]').dataset.state"
    )
    return state


@pytest.mark.browser
@pytest.mark.postgres
def test_the_console_draws_the_edge_and_says_when_haproxy_is_unreachable(
    driver: WebDriver,
    edge_ops_url: str,
    operator_token: tuple[str, str],
    fake_edge: tuple[FakeEdge, str],
    redis_client: redis.Redis,
) -> None:
    edge, _ = fake_edge
    edge.down = False
    driver.get(edge_ops_url + "/ops")
    wait(driver).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
    assert not by_testid(driver, "ops-edge").is_displayed()  # operators only: signed in first
    sign_in(driver, edge_ops_url, operator_token[0])

    # The queue is drawn from the first sample, the refusals' rates from the second.
    def drawn(d: WebDriver) -> bool:
        queue, refused = edge_lines(d, "queue"), edge_lines(d, "refused")
        return queue.get("app", (0, 0.0))[0] >= 2 and all(
            refused.get(r, (0, 0.0))[0] >= 2 and refused[r][1] > 0
            for r in ("queue_full", "queue_timeout", "quota")
        )

    wait(driver, 20).until(drawn)
    assert by_testid(driver, "ops-edge").is_displayed()
    assert edge_state(driver) == "ok"
    assert 3 <= edge_lines(driver, "queue")["app"][1] <= 6
    assert "node_failed" not in edge_lines(driver, "refused")  # none yet: left out
    nodes = driver.find_elements("css selector", '[data-testid="edge-node"]')
    assert [(n.get_attribute("data-node"), n.get_attribute("data-state")) for n in nodes] == [
        ("node1", "UP"),
        ("node2", "DOWN"),
    ]
    assert "L4CON" in nodes[1].text
    legend = by_testid(driver, "ops-edge-legend").text
    assert "app:" in legend
    assert "1/2 nodes up" in legend
    driver.save_screenshot("/tmp/ops-edge.png")

    # HAProxy gone: the panel says so at once; the other charts go on.
    edge.down = True
    wait(driver, 10).until(lambda d: edge_state(d) == "unavailable")
    assert "HTTP 503" in by_testid(driver, "ops-edge-state").text
    assert driver.find_elements("css selector", '[data-testid="edge-node"]') == []
    before = series(driver, "admitted").get("critical", (0, 0.0))[0]
    wait(driver, 10).until(lambda d: series(d, "admitted").get("critical", (0, 0.0))[0] > before)
    edge.down = False
    wait(driver, 10).until(lambda d: edge_state(d) == "ok")
    assert console_errors(driver) == []


@pytest.mark.browser
@pytest.mark.postgres
def test_where_no_edge_is_configured_the_console_shows_no_edge_panel(
    driver: WebDriver, ops_url: str, operator_token: tuple[str, str], redis_client: redis.Redis
) -> None:
    sign_in(driver, ops_url, operator_token[0])
    wait(driver).until(
        lambda d: d.execute_script(
            "return performance.getEntriesByType('resource')"
            ".some((e) => e.name.endsWith('/api/v1/ops/edge'))"
        )
    )

    assert not by_testid(driver, "ops-edge").is_displayed()
    assert edge_state(driver) == ""
