"""Prometheus counters of admission decisions, served at ``/metrics``.

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (config/gunicorn.conf.py
does) so ``/metrics`` adds up every worker's counts. Figures that are not a process's own (the
outbox backlog, read from the database) come in as collectors asked once per scrape.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

ADMISSIONS = Counter(
    "miniapp_admission_total",
    "Admission decisions per traffic class, channel, outcome and reason.",
    ("traffic_class", "channel", "outcome", "reason"),
)
CONCURRENCY_LIMIT = Gauge(
    "miniapp_concurrency_limit",
    "The adaptive in-flight limit of a worker process.",
    multiprocess_mode="liveall",
)

# Seconds from admission to the response, per class: the p99 of the dashboard and of the
# alert "MiniappLatencyP99High" (config/prometheus/alerts.yml). Few buckets: under gunicorn each
# one is a value in every worker's file, and the alert's bound (1 s) sits on a boundary.
REQUEST_SECONDS = Histogram(
    "miniapp_request_duration_seconds",
    "Seconds from admission to the response of admitted requests, per traffic class.",
    ("traffic_class",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


# The labelled children, looked up once: ``labels()`` on every request was a tenth of the
# gate's own Python time. The label values are few (classes, channels, outcomes, reasons).
_admissions: dict[tuple[str, str, str, str], Any] = {}
_durations: dict[str, Any] = {}


def count(traffic_class: str, channel: str, outcome: str, reason: str) -> None:
    key = (traffic_class, channel, outcome, reason)
    child = _admissions.get(key)
    if child is None:
        child = _admissions.setdefault(key, ADMISSIONS.labels(*key))
    child.inc()


def observe_duration(traffic_class: str, seconds: float) -> None:
    """One admitted request answered after ``seconds`` (the admission middleware calls it)."""
    child = _durations.get(traffic_class)
    if child is None:
        child = _durations.setdefault(traffic_class, REQUEST_SECONDS.labels(traffic_class))
    child.observe(seconds)


def exposition(*extra: Collector) -> tuple[bytes, str]:
    """The text format of every counter, across worker processes when they are several, and of
    the ``extra`` collectors, each asked once.

    ``extra`` go into a registry of this scrape only: the process's own outlives an app (tests
    make several in one process) and is not read in multiprocess mode, and a ``Gauge`` set at
    scrape time instead would leave a value in every worker's file, stale in all but one.
    """
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
