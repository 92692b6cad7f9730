"""What one open-loop run produced, cut by intended send time and by stream.

Requests are assigned to a window by when they were *meant* to be sent, so a window's count
is exactly the load offered in it, and a request answered late still belongs to the second in
which it arrived. Goodput counts 2xx answers within the client deadline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from _openloop import CONN, NOCONN, OUTCOME_NAMES, TIMEOUT, Outcome

REJECTIONS = (429, 503)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``nan`` when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Summary:
    """One window of one run (optionally one stream of it)."""

    seconds: float
    offered: int = 0
    ok_latencies: list[float] = field(default_factory=list)  # 2xx within the deadline, s
    rejected_latencies: list[float] = field(default_factory=list)  # 429 and 503, s
    statuses: Counter[int] = field(default_factory=Counter)  # every HTTP status
    failures: Counter[str] = field(default_factory=Counter)  # timeout, conn, noconn
    lags: list[float] = field(default_factory=list)  # the generator's own lateness, s

    @property
    def ok(self) -> int:
        return len(self.ok_latencies)

    @property
    def goodput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def offered_rate(self) -> float:
        return self.offered / self.seconds if self.seconds else 0.0

    @property
    def served_share(self) -> float:
        return self.ok / self.offered if self.offered else math.nan

    def ok_ms(self, q: float) -> float:
        return percentile(self.ok_latencies, q) * 1000

    def rejected_ms(self, q: float) -> float:
        return percentile(self.rejected_latencies, q) * 1000

    def lag_ms(self, q: float) -> float:
        return percentile(self.lags, q) * 1000

    def all_ms(self, q: float) -> float:
        """Percentile over every request, anything but a 2xx in time counted as infinite."""
        missing = [math.inf] * (self.offered - self.ok)
        return percentile(self.ok_latencies + missing, q) * 1000

    def within_share(self, seconds: float) -> float:
        """Share of the offered requests answered 2xx within ``seconds``."""
        if not self.offered:
            return 0.0
        return sum(1 for v in self.ok_latencies if v <= seconds) / self.offered

    def others(self) -> str:
        """Statuses neither 2xx nor rejections, and the failures: ``500:3 timeout:9``."""
        parts = [f"{s}:{n}" for s, n in sorted(self.statuses.items()) if _other(s)]
        parts += [f"{k}:{n}" for k, n in sorted(self.failures.items())]
        return " ".join(parts) or "0"


def _other(status: int) -> bool:
    return not 200 <= status < 300 and status not in REJECTIONS


def summarize(
    outcome: Outcome, start: float, end: float, tags: Iterable[str] | None = None
) -> Summary:
    """The requests meant to be sent in ``[start, end)``, of the streams ``tags`` (default all)."""
    schedule = outcome.schedule
    wanted = None if tags is None else {schedule.tags.index(t) for t in tags if t in schedule.tags}
    deadline = outcome.deadline
    summary = Summary(end - start)
    for i, at in enumerate(schedule.at):
        if at < start or at >= end or (wanted is not None and schedule.tag[i] not in wanted):
            continue
        summary.offered += 1
        summary.lags.append(outcome.lag[i])
        status = outcome.status[i]
        if status in (TIMEOUT, CONN, NOCONN):
            summary.failures[OUTCOME_NAMES[status]] += 1
            continue
        latency = outcome.done[i] - at
        summary.statuses[status] += 1
        if 200 <= status < 300:
            if latency <= deadline:
                summary.ok_latencies.append(latency)
            else:  # answered, but after the client had given up (the sweep's granularity)
                summary.failures["timeout"] += 1
        elif status in REJECTIONS:
            summary.rejected_latencies.append(latency)
    return summary


def windows(outcome: Outcome, start: float, end: float, step: float = 1.0) -> list[Summary]:
    """Consecutive windows of ``step`` seconds from ``start`` to ``end``."""
    count = round((end - start) / step)
    return [summarize(outcome, start + k * step, start + (k + 1) * step) for k in range(count)]
