"""The targets of ``bench/overload.py``: each configuration's figures, the app without a front
judged as before, and the front door's lines ``target <name>: <value> <met|MISSED>``."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from _overload_measure import Summary
from _overload_scenarios import CAPACITY_LATENCY, Capacity, Plain, Surge

# The targets.
HELLO_SHARE = 0.6  # lookup capacity >= 0.6 x a bare Flask hello endpoint's
GOODPUT_3X = 0.85  # at 3x B, goodput >= 0.85 B
REJECT_P99_MS = 5.0  # at 3x B, rejections answered within 5 ms at p99
CRITICAL_SERVED = 0.99  # 2x B, half critical: >= 99% of critical served
GOODPUT_10X = 0.5  # at 10x B, goodput >= 0.5 B (the app without a front)
FRONT_GOODPUT_10X = 0.8  # at 10x B through the front door, goodput >= 0.8 B
RSS_GROWTH = 0.10  # at 10x B, worker RSS "flat": the peak within 10% of before the surge
RECOVERY_SECONDS = 5.0  # p99 back to normal within 5 s after the surge
ABUSER_COST = 0.05  # one user at 100x costs the others < 5% of their goodput
PROTECTION_COST = 0.9  # capacity with protection >= 0.9 x the same stack without


@dataclass(frozen=True)
class Quota:
    rate: float
    burst: float
    address_users: int = 16  # users one address may stand for at the edge


@dataclass
class Results:
    args: argparse.Namespace
    quota: Quota
    sheddable_path: str
    configs: list[str] = field(default_factory=list)
    b: dict[str, float] = field(default_factory=dict)  # each configuration's B (its group's)
    capacity: dict[str, Capacity] = field(default_factory=dict)
    generator: Plain | None = None
    runs: dict[str, dict[str, Plain]] = field(default_factory=dict)
    surges: dict[str, Surge] = field(default_factory=dict)


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def recovery_threshold(s: Surge) -> float:
    """What counts as normal again: twice the p99 before the surge and at least 20 ms more,
    but never more than the capacity criterion (200 ms)."""
    normal = s.normal.all_ms(99)
    return min(max(2 * normal, normal + 20.0), CAPACITY_LATENCY * 1000)


class Figures:
    """One configuration's figures, as the targets read them."""

    def __init__(self, results: Results, name: str) -> None:
        self.name, self.b = name, results.b[name]
        self.runs, self.surge = results.runs[name], results.surges[name]
        self.found = results.capacity.get(name)

    @property
    def three(self) -> Summary:
        return self.runs["3x"].total

    def goodput_3x(self) -> float:
        return self.three.goodput / self.b

    def rejections_3x(self) -> float:
        return self.three.rejected_ms(99)

    def critical_served(self) -> float:
        return self.runs["mixed"].by_tag["critical"].served_share

    def goodput_10x(self) -> float:
        return self.surge.surge.goodput / self.b

    def rss_growth(self) -> float:
        return self.surge.rss_peak / self.surge.rss_before - 1

    def recovered(self) -> float | None:
        return self.surge.recovered_after(recovery_threshold(self.surge))

    def abuser_served(self) -> float:
        return self.runs["abuser"].by_tag["abuser"].goodput

    def abuser_cost(self) -> float:
        tags = self.runs["abuser"].by_tag
        return 1 - tags["critical"].goodput / tags["alone"].goodput

    def capacity(self) -> float | None:
        return self.found.rate if self.found else None


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}s"


def direct_targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """(what, the protected app's figure beside the unprotected one, met?): as before."""
    ours = Figures(results, "protected")
    bare = Figures(results, "unprotected") if "unprotected" in results.configs else None

    def beside(text: str) -> str:
        return f" (unprotected {text})" if bare is not None else ""

    out: list[tuple[str, str, bool | None]] = []
    hello, own = results.capacity.get("hello"), ours.capacity()
    if hello and own:
        base = bare.capacity() if bare else None
        out.append(
            (
                f"lookup capacity >= {HELLO_SHARE} x hello",
                f"{own / hello.rate:.2f}" + beside(f"{base / hello.rate:.2f}" if base else "-"),
                own / hello.rate >= HELLO_SHARE,
            )
        )
    g = ours.goodput_3x()
    out.append(
        (
            f"3x B: goodput >= {GOODPUT_3X} B",
            f"{g:.2f} B" + beside(f"{bare.goodput_3x():.2f} B" if bare else ""),
            g >= GOODPUT_3X,
        )
    )
    rej, three = ours.rejections_3x(), ours.three
    out.append(
        (
            f"3x B: rejections p99 < {REJECT_P99_MS:g} ms",
            f"{ms(rej)} ms ({three.statuses[429]} 429, {three.statuses[503]} 503)",
            None if math.isnan(rej) else rej < REJECT_P99_MS,
        )
    )
    c = ours.critical_served()
    out.append(
        (
            f"2x B mixed: critical served >= {CRITICAL_SERVED:.0%}",
            f"{c:.1%}" + beside(f"{bare.critical_served():.1%}" if bare else ""),
            c >= CRITICAL_SERVED,
        )
    )
    t = ours.goodput_10x()
    out.append(
        (
            f"10x B: goodput >= {GOODPUT_10X} B",
            f"{t:.2f} B" + beside(f"{bare.goodput_10x():.2f} B" if bare else ""),
            t >= GOODPUT_10X,
        )
    )
    growth = ours.rss_growth()
    out.append(
        (
            f"10x B: worker RSS flat (peak < +{RSS_GROWTH:.0%})",
            f"{growth:+.1%}" + beside(f"{bare.rss_growth():+.1%}" if bare else ""),
            growth < RSS_GROWTH,
        )
    )
    back = ours.recovered()
    out.append(
        (
            f"10x B: p99 normal within {RECOVERY_SECONDS:g}s",
            _seconds(back) + beside(_seconds(bare.recovered()) if bare else ""),
            back is not None and back <= RECOVERY_SECONDS,
        )
    )
    args, quota = results.args, results.quota
    allowed = quota.rate + quota.burst / args.measure
    held = ours.abuser_served()
    out.append(
        (
            f"abuser at {args.abuser_factor:g}x quota held to it",
            f"{held:.1f}/s served, quota {quota.rate:g}/s + burst"
            + beside(f"{bare.abuser_served():.0f}/s" if bare else ""),
            held <= allowed * 1.05,
        )
    )
    cost = ours.abuser_cost()
    out.append(
        (
            f"abuser costs the others < {ABUSER_COST:.0%}",
            f"{cost:.1%}" + beside(f"{bare.abuser_cost():.1%}" if bare else ""),
            cost < ABUSER_COST,
        )
    )
    return out


def front_targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """(name, the front's figure beside front-bare's and the protected app's, met?)."""
    front = Figures(results, "front")
    others = [
        Figures(results, n)
        for n in ("front-bare", "front-nodoor", "protected")
        if n in results.configs
    ]

    def beside(figure: str, of: dict[str, str]) -> str:
        more = [f"{name} {of[name]}" for name in (o.name for o in others)]
        return figure + (f" ({', '.join(more)})" if more else "")

    three = front.three
    rej = front.rejections_3x()
    served = {o.name: f"{o.critical_served():.1%}" for o in others}
    surge = {o.name: f"{o.goodput_10x():.2f} B" for o in others}
    cost = {o.name: f"{o.abuser_cost():.1%}" for o in others}
    out: list[tuple[str, str, bool | None]] = [
        (
            f"rejections p99 at 3x B < {REJECT_P99_MS:g} ms",
            f"{ms(rej)} ms ({three.statuses[429]} 429, {three.statuses[503]} 503)",
            None if math.isnan(rej) else rej < REJECT_P99_MS,
        ),
        (
            f"critical served at 2x B half sheddable >= {CRITICAL_SERVED:.0%}",
            beside(f"{front.critical_served():.1%}", served),
            front.critical_served() >= CRITICAL_SERVED,
        ),
        (
            f"goodput at 10x B >= {FRONT_GOODPUT_10X} B",
            beside(f"{front.goodput_10x():.2f} B", surge),
            front.goodput_10x() >= FRONT_GOODPUT_10X,
        ),
        (
            f"abuser at {results.args.abuser_factor:g}x quota costs the others < {ABUSER_COST:.0%}",
            beside(f"{front.abuser_cost():.1%}", cost),
            front.abuser_cost() < ABUSER_COST,
        ),
    ]
    ours = front.capacity()
    bare = results.capacity.get("front-bare")
    if ours is not None and bare is not None and bare.rate > 0:
        out.append(
            (
                f"capacity with protection >= {PROTECTION_COST} x without",
                f"{ours / bare.rate:.2f} (front {ours:.0f}/s, front-bare {bare.rate:.0f}/s)",
                ours / bare.rate >= PROTECTION_COST,
            )
        )
    else:
        out.append(
            (
                f"capacity with protection >= {PROTECTION_COST} x without",
                "not measured (needs front and front-bare, without --capacity)",
                None,
            )
        )
    return out
