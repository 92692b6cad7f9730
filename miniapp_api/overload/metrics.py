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


def count(traffic_class: str, channel: str, outcome: str, reason: str) -> None:
    ADMISSIONS.labels(traffic_class, channel, outcome, reason).inc()


def exposition() -> tuple[bytes, str]:
    """The text format of every counter, across worker processes when they are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
