"""Prometheus counters of admission decisions, served at ``/metrics``.

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (config/gunicorn.conf.py
does) so ``/metrics`` adds up every worker's counts.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

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


def count(traffic_class: str, channel: str, outcome: str, reason: str) -> None:
    ADMISSIONS.labels(traffic_class, channel, outcome, reason).inc()


def observe_duration(traffic_class: str, seconds: float) -> None:
    """One admitted request answered after ``seconds`` (the admission middleware calls it)."""
    REQUEST_SECONDS.labels(traffic_class).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text format of every counter, across worker processes when they are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
