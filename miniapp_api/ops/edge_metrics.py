"""The front door's queue, refusals and nodes for the ops console, from HAProxy's own metrics.

HAProxy's Prometheus exporter is on its internal stats port (``OPS.EDGE_METRICS_URL``), which
the browser cannot reach, so the app reads it when the console asks, and never for longer than
:data:`TIMEOUT_SECONDS`: a slow, silent or unresolvable edge gives an answer that says so.

HAProxy 2.6 has no counter per refusal, so each is a difference of counters that see the same
request (tests/integration/ops/test_edge_panel.py provokes each on a real HAProxy):

- ``queue_full``: ``http-request return status 503`` in the frontend is counted in its
  ``http_responses_total`` and in no backend's: the frontend's 5xx less the backends';
- ``node_failed``: HAProxy's own 502/504 are backend ``response_errors_total``, less
  ``server_aborts_total`` (a node that died after its headers; that answer counted as a 2xx);
- ``queue_timeout``: a 503 after ``timeout queue`` (or with no node up) is the backend's 5xx
  and no server's: the backends' 5xx less their servers' and less ``node_failed``;
- ``quota``: the 429 of ``http-request return`` is the frontend's 4xx and no backend's, as are
  the 400/408 HAProxy answers to malformed requests and to connections that never send one
  (browsers' pre-connections: many), counted in ``request_errors_total``, so less those.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from miniapp_api.ops.schemas import EdgeBackend, EdgeNode, EdgeOut, EdgeRefusals

EXTENSION_KEY = "miniapp.edge_metrics"
TIMEOUT_SECONDS = 0.5  # the whole answer; the console asks every 3 s
MAX_BYTES = 8 * 1024 * 1024  # about 300 nodes' worth; more is not HAProxy's exporter
# The frontend the app's traffic enters by, as config/haproxy.cfg.j2 names it (the edge
# package sits above this one in the layers); the stats frontend's own answers are not ours.
FRONTEND = "miniapp"
WANTED = frozenset(
    {
        "haproxy_frontend_http_responses_total",
        "haproxy_frontend_request_errors_total",
        "haproxy_backend_current_queue",
        "haproxy_backend_max_queue",
        "haproxy_backend_http_responses_total",
        "haproxy_backend_response_errors_total",
        "haproxy_backend_server_aborts_total",
        "haproxy_server_status",
        "haproxy_server_check_status",
        "haproxy_server_current_sessions",
        "haproxy_server_limit_sessions",
        "haproxy_server_http_responses_total",
    }
)

Labels = dict[str, str]


class EdgeUnreachable(Exception):
    """No usable metrics from HAProxy; the message says why, for the console."""


class EdgeReader:
    """Reads HAProxy's metrics at ``url``; one per app, shared by the worker's threads.

    The request runs on a small pool of its own: the caller waits at most ``timeout``, even
    when resolving the host name hangs, which no socket timeout covers.
    """

    def __init__(self, url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="edge-metrics")

    def read(self) -> EdgeOut:
        """What the console shows; never raises for an edge that is down, slow or wrong."""
        if not self.url:
            return EdgeOut(configured=False)
        deadline = time.monotonic() + self.timeout
        future = self._pool.submit(self._fetch, deadline)
        try:
            backends, refused = parse(future.result(timeout=self.timeout))
        except FutureTimeout:
            future.cancel()  # still queued behind a hung read: never start it
            return _unavailable(f"no answer within {self.timeout:g} s")
        except requests.Timeout:
            return _unavailable(f"no answer within {self.timeout:g} s")
        except requests.ConnectionError:
            return _unavailable("cannot connect (is HAProxy running, its stats port bound?)")
        except (requests.RequestException, EdgeUnreachable) as exc:
            return _unavailable(str(exc) or type(exc).__name__)
        return EdgeOut(configured=True, available=True, backends=backends, refused=refused)

    def _fetch(self, deadline: float) -> str:
        # Each connect and each read waits at most half the budget, and the body is read
        # only until the deadline: a server trickling bytes does not hold this thread long.
        step = self.timeout / 2
        with requests.Session() as session:
            # An internal address: never through the HTTP(S)_PROXY meant for the platforms.
            session.trust_env = False
            with session.get(
                self.url,
                timeout=(step, step),
                stream=True,
                allow_redirects=False,
                headers={"Accept": "text/plain"},
            ) as response:
                if response.status_code != 200:
                    raise EdgeUnreachable(
                        f"answered HTTP {response.status_code} (is it HAProxy's /metrics?)"
                    )
                body = bytearray()
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise EdgeUnreachable("the answer is too large to be HAProxy's metrics")
                    if time.monotonic() > deadline:
                        raise EdgeUnreachable(f"no answer within {self.timeout:g} s")
        return body.decode("utf-8", "replace")


_install_lock = threading.Lock()


def reader_of(app: Flask, url: str) -> EdgeReader:
    """The app's reader, made on first use (after gunicorn's fork: its pool has threads)."""
    with _install_lock:
        found = app.extensions.get(EXTENSION_KEY)
        if not isinstance(found, EdgeReader):
            found = app.extensions[EXTENSION_KEY] = EdgeReader(url)
    return found


def parse(text: str) -> tuple[list[EdgeBackend], EdgeRefusals | None]:
    """The backends with app nodes, and the refusals (None without the app's frontend)."""
    samples = _Samples(text)
    servers = samples.servers()
    backends = []
    for proxy, names in sorted(servers.items()):
        nodes = [_node(samples, proxy, server) for server in names]
        backends.append(
            EdgeBackend(
                name=proxy,
                queue=int(samples.total("haproxy_backend_current_queue", proxy)),
                queue_max=int(samples.total("haproxy_backend_max_queue", proxy)),
                slots=sum(n.limit or 0 for n in nodes),
                nodes=nodes,
            )
        )
    if not samples.has("haproxy_frontend_http_responses_total", FRONTEND):
        return backends, None

    def backends_total(name: str, **match: str) -> float:
        return sum(samples.total(name, proxy, **match) for proxy in servers)

    def servers_total(name: str, **match: str) -> float:
        return sum(
            samples.total(name, proxy, server, **match)
            for proxy, names in servers.items()
            for server in names
        )

    node_failed = max(
        0.0,
        backends_total("haproxy_backend_response_errors_total")
        - backends_total("haproxy_backend_server_aborts_total"),
    )
    backend_5xx = backends_total("haproxy_backend_http_responses_total", code="5xx")
    return backends, EdgeRefusals(
        queue_full=_count(
            samples.total("haproxy_frontend_http_responses_total", FRONTEND, code="5xx")
            - backend_5xx
        ),
        queue_timeout=_count(
            backend_5xx
            - servers_total("haproxy_server_http_responses_total", code="5xx")
            - node_failed
        ),
        quota=_count(
            samples.total("haproxy_frontend_http_responses_total", FRONTEND, code="4xx")
            - backends_total("haproxy_backend_http_responses_total", code="4xx")
            - samples.total("haproxy_frontend_request_errors_total", FRONTEND)
        ),
        node_failed=_count(node_failed),
    )


class _Samples:
    """The samples of :data:`WANTED` in an exposition, by name, proxy and server."""

    def __init__(self, text: str) -> None:
        # A sample line starts with its name, up to its labels or its value; the exporter's
        # thousands of other lines (and the comments) are not parsed.
        lines = text.splitlines()
        wanted = [s for s in lines if s.split("{", 1)[0].split(" ", 1)[0] in WANTED]
        self._found: dict[tuple[str, str, str], list[tuple[Labels, float]]] = defaultdict(list)
        try:
            for family in text_string_to_metric_families("\n".join(wanted) + "\n"):
                for sample in family.samples:
                    labels = sample.labels
                    key = (sample.name, labels.get("proxy", ""), labels.get("server", ""))
                    self._found[key].append((labels, sample.value))
        except ValueError:
            raise EdgeUnreachable("the answer is not Prometheus metrics") from None
        if not self._found:
            raise EdgeUnreachable("the answer holds none of HAProxy's metrics")

    def servers(self) -> dict[str, list[str]]:
        """The app nodes of each backend, in HAProxy's order (stick-table backends have none)."""
        found: dict[str, list[str]] = {}
        for name, proxy, server in self._found:
            if name == "haproxy_server_status" and server not in found.setdefault(proxy, []):
                found[proxy].append(server)
        return found

    def has(self, name: str, proxy: str) -> bool:
        return (name, proxy, "") in self._found

    def total(self, name: str, proxy: str, server: str = "", **match: str) -> float:
        """The sum of the samples whose labels match (NaN, HAProxy's "none", left out)."""
        return sum(
            value
            for labels, value in self._found.get((name, proxy, server), ())
            if math.isfinite(value) and all(labels.get(k) == v for k, v in match.items())
        )

    def state(self, name: str, proxy: str, server: str) -> str:
        """The ``state`` label of the sample at 1 (HAProxy sets one of a server's states)."""
        for labels, value in self._found.get((name, proxy, server), ()):
            if value == 1:
                return labels.get("state", "")
        return ""


def _node(samples: _Samples, proxy: str, server: str) -> EdgeNode:
    limit = samples.total("haproxy_server_limit_sessions", proxy, server)
    return EdgeNode(
        name=server,
        state=samples.state("haproxy_server_status", proxy, server),
        check=samples.state("haproxy_server_check_status", proxy, server),
        sessions=int(samples.total("haproxy_server_current_sessions", proxy, server)),
        limit=int(limit) if limit > 0 else None,
    )


def _count(value: float) -> int:
    """A difference of counters: never below zero (a reload starts them all again)."""
    return max(0, int(value))


def _unavailable(problem: str) -> EdgeOut:
    return EdgeOut(configured=True, available=False, problem=problem)
