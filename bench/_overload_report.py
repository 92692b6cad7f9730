"""What ``bench/overload.py`` prints: the set-up, the table, the targets and the ratio."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from _overload_measure import Summary
from _overload_scenarios import CAPACITY_LATENCY, Capacity, Plain, Run, Surge

APPS = ("protected", "unprotected")
# The targets.
HELLO_SHARE = 0.6  # lookup capacity >= 0.6 x a bare Flask hello endpoint's
GOODPUT_3X = 0.85  # at 3x B, goodput >= 0.85 B
REJECT_P99_MS = 5.0  # at 3x B, rejections answered within 5 ms at p99
CRITICAL_SERVED = 0.99  # 2x B, half critical: >= 99% of critical served
GOODPUT_10X = 0.5  # at 10x B, goodput >= 0.5 B
RSS_GROWTH = 0.10  # at 10x B, worker RSS "flat": the peak within 10% of before the surge
RECOVERY_SECONDS = 5.0  # p99 back to normal within 5 s after the surge
ABUSER_COST = 0.05  # one user at 100x costs the others < 5% of their goodput
NOISY = 0.5  # cores used by others beyond which a run is called disturbed
LAG_WARN_MS = 10.0  # the generator's own lateness (p99) beyond which a row is suspect


@dataclass(frozen=True)
class Quota:
    rate: float
    burst: float


@dataclass
class Results:
    args: argparse.Namespace
    quota: Quota
    sheddable_path: str
    b: float = 0.0
    capacity: dict[str, Capacity] = field(default_factory=dict)
    generator: Plain | None = None
    runs: dict[str, dict[str, Plain]] = field(default_factory=dict)
    surges: dict[str, Surge] = field(default_factory=dict)


def header(args: argparse.Namespace, own: set[int] | None, app: set[int] | None) -> None:
    print("bench/overload: admission control under open-loop overload, beside the same app without")
    print(
        f"  gunicorn gthread (config/gunicorn.conf.py): MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}; MINIAPP_OVERLOAD__ENABLED=true (protected) / false "
        f"(unprotected){' ' + args.gunicorn_args if args.gunicorn_args else ''}\n"
        f"  load: open loop, Poisson arrivals, latency from the intended send time, client "
        f"deadline {args.deadline:g}s; warm-up {args.warmup:g}s, then {args.measure:g}s "
        f"measured per scenario; {args.users:,} residents with sessions"
    )
    if own is not None and app is not None:
        print(
            f"  pinning: servers on CPU {','.join(map(str, sorted(app)))}; generator on CPU "
            f"{','.join(map(str, sorted(own)))}; PostgreSQL and Redis unpinned"
        )
    else:
        print("  pinning: none")


# --- the table -----------------------------------------------------------------------------
COLUMNS = (
    f"{'scenario':<14} {'app':<11} {'offered/s':>9} {'goodput/s':>9} {'/B':>5} {'p50 ms':>6} "
    f"{'p99 ms':>6} {'429':>5} {'503':>5} {'rej p99':>7} {'lag':>5} {'cpu':>4} {'mach':>4} "
    f"{'RSS MB':>8}  failed"
)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def row(label: str, app: str, s: Summary, b: float, run: Run, rss: str) -> str:
    lag = s.lag_ms(99)
    warn = " (generator late)" if lag > LAG_WARN_MS else ""
    return (
        f"{label:<14} {app:<11} {s.offered_rate:>9.0f} {s.goodput:>9.0f} {s.goodput / b:>5.2f} "
        f"{_ms(s.ok_ms(50)):>6} {_ms(s.ok_ms(99)):>6} {s.statuses[429]:>5} {s.statuses[503]:>5} "
        f"{_ms(s.rejected_ms(99)):>7} {_ms(lag):>5} {run.app_share:>4.0%} "
        f"{run.machine_share:>4.0%} {rss:>8}  {s.others()}{warn}"
    )


def print_table(results: Results) -> None:
    b = results.b
    print()
    print(COLUMNS)
    print("-" * len(COLUMNS))
    layout = (
        ("1x B", "1x", None),
        ("3x B", "3x", None),
        ("2x B critical", "mixed", "critical"),
        ("2x B sheddable", "mixed", "sheddable"),
        ("1x B alone", "abuser", "alone"),
        ("1x B + abuser", "abuser", "critical"),
        ("the abuser", "abuser", "abuser"),
    )
    for label, scenario, tag in layout:
        for app in APPS:
            plain = results.runs[app][scenario]
            summary = plain.total if tag is None else plain.by_tag[tag]
            rss = plain.run.rss
            text = f"{rss[0][1]:.0f}>{max(mb for _, mb in rss):.0f}" if rss else "-"
            print(row(label if app == APPS[0] else "", app, summary, b, plain.run, text))
    for app in APPS:
        s = results.surges[app]
        text = f"{s.rss_before:.0f}>{s.rss_peak:.0f}"
        print(row("10x B" if app == APPS[0] else "", app, s.surge, b, s.run, text))
    print(
        "  goodput: 2xx within the deadline per second; /B: goodput over B; p50/p99: of the "
        "2xx answers;\n  rej p99: of the 429 and 503 answers; all latencies from the "
        "intended send time; lag: p99 of how\n  late the generator itself got to a request "
        "(ms); cpu: the server's CPU, share of one core; mach:\n  the whole machine busy "
        "(both cores, everyone's processes: PostgreSQL, Redis, the generator, others);\n  "
        "RSS: gunicorn workers' resident memory summed, at the start > the peak; failed: "
        "other statuses,\n  timeout (the client deadline), conn (refused or reset), noconn "
        "(no connection free until the deadline)"
    )


def print_details(results: Results) -> None:
    b, cap = results.b, results.capacity
    if cap:
        hello, ours, bare = cap["hello"], cap["protected"], cap["unprotected"]
        print(
            f"\ncapacity (p99 < {CAPACITY_LATENCY * 1000:.0f} ms): hello {hello.rate:.0f}/s, "
            f"protected B = {ours.rate:.0f}/s, unprotected {bare.rate:.0f}/s"
        )
        for name, found in cap.items():
            print(f"  {name}: {found.line()}")
    else:
        print(f"\ncapacity: B = {b:.0f}/s given with --capacity (no search)")
    gen = results.generator
    if gen is not None:
        s, out = gen.total, gen.run.outcome
        verdict = "keeps up" if s.lag_ms(99) <= LAG_WARN_MS and s.ok == s.offered else "FELL BEHIND"
        print(
            f"generator against a trivial server: offered {s.offered_rate:.0f}/s, answered "
            f"{s.goodput:.0f}/s, p99 {_ms(s.ok_ms(99))} ms, own lag p99 {_ms(s.lag_ms(99))} ms, "
            f"{out.cpu_seconds / max(out.wall_seconds, 1e-9):.0%} of its CPU: {verdict} at 10x B"
        )
    for app in APPS:
        surge = results.surges[app]
        threshold = recovery_threshold(surge)
        after = " ".join(_ms(w.all_ms(99)) for w in surge.after)
        back = surge.recovered_after(threshold)
        print(
            f"after 10x B, {app}: p99 per second at {b / 2:.0f}/s (before the surge "
            f"{_ms(surge.normal.all_ms(99))} ms; normal = under {threshold:.0f} ms): {after}; "
            + (f"normal after {back:.0f}s" if back is not None else "not back within the window")
        )


def recovery_threshold(s: Surge) -> float:
    """What counts as normal again: twice the p99 before the surge and at least 20 ms more,
    but never more than the capacity criterion (200 ms)."""
    normal = s.normal.all_ms(99)
    return min(max(2 * normal, normal + 20.0), CAPACITY_LATENCY * 1000)


# --- targets -------------------------------------------------------------------------------
def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """(what, the protected figure beside the unprotected one, met?)."""
    b, runs, surges, quota = results.b, results.runs, results.surges, results.quota
    out: list[tuple[str, str, bool | None]] = []
    cap = results.capacity
    if cap:
        share = cap["protected"].rate / cap["hello"].rate
        bare_share = cap["unprotected"].rate / cap["hello"].rate
        out.append(
            (
                f"lookup capacity >= {HELLO_SHARE} x hello",
                f"{share:.2f} (unprotected {bare_share:.2f})",
                share >= HELLO_SHARE,
            )
        )
    g = {a: runs[a]["3x"].total.goodput / b for a in APPS}
    out.append(
        (
            f"3x B: goodput >= {GOODPUT_3X} B",
            f"{g['protected']:.2f} B (unprotected {g['unprotected']:.2f} B)",
            g["protected"] >= GOODPUT_3X,
        )
    )
    rej = runs["protected"]["3x"].total.rejected_ms(99)
    out.append(
        (
            f"3x B: rejections p99 < {REJECT_P99_MS:g} ms",
            f"{_ms(rej)} ms ({runs['protected']['3x'].total.statuses[429]} 429, "
            f"{runs['protected']['3x'].total.statuses[503]} 503)",
            None if math.isnan(rej) else rej < REJECT_P99_MS,
        )
    )
    c = {a: runs[a]["mixed"].by_tag["critical"].served_share for a in APPS}
    out.append(
        (
            f"2x B mixed: critical served >= {CRITICAL_SERVED:.0%}",
            f"{c['protected']:.1%} (unprotected {c['unprotected']:.1%})",
            c["protected"] >= CRITICAL_SERVED,
        )
    )
    t = {a: surges[a].surge.goodput / b for a in APPS}
    out.append(
        (
            f"10x B: goodput >= {GOODPUT_10X} B",
            f"{t['protected']:.2f} B (unprotected {t['unprotected']:.2f} B)",
            t["protected"] >= GOODPUT_10X,
        )
    )
    growth = {a: surges[a].rss_peak / surges[a].rss_before - 1 for a in APPS}
    out.append(
        (
            f"10x B: worker RSS flat (peak < +{RSS_GROWTH:.0%})",
            f"{growth['protected']:+.1%} (unprotected {growth['unprotected']:+.1%})",
            growth["protected"] < RSS_GROWTH,
        )
    )
    back = {a: surges[a].recovered_after(recovery_threshold(surges[a])) for a in APPS}

    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.0f}s"

    out.append(
        (
            f"10x B: p99 normal within {RECOVERY_SECONDS:g}s",
            f"{seconds(back['protected'])} (unprotected {seconds(back['unprotected'])})",
            back["protected"] is not None and back["protected"] <= RECOVERY_SECONDS,
        )
    )
    measured = results.args.measure
    allowed = quota.rate + quota.burst / measured
    held = {a: runs[a]["abuser"].by_tag["abuser"].goodput for a in APPS}
    out.append(
        (
            f"abuser at {results.args.abuser_factor:g}x quota held to it",
            f"{held['protected']:.1f}/s served, quota {quota.rate:g}/s + burst "
            f"(unprotected {held['unprotected']:.0f}/s)",
            held["protected"] <= allowed * 1.05,
        )
    )
    cost = {
        a: 1
        - runs[a]["abuser"].by_tag["critical"].goodput / runs[a]["abuser"].by_tag["alone"].goodput
        for a in APPS
    }
    out.append(
        (
            f"abuser costs the others < {ABUSER_COST:.0%}",
            f"{cost['protected']:.1%} (unprotected {cost['unprotected']:.1%})",
            cost["protected"] < ABUSER_COST,
        )
    )
    return out


def print_noise(results: Results) -> None:
    """Say how much else ran: the box is shared, and other people's tests move the figures."""
    runs = [
        (f"{scenario} {app}", p.run) for app, d in results.runs.items() for scenario, p in d.items()
    ]
    runs += [(f"10x {app}", s.run) for app, s in results.surges.items()]
    worst, run = max(runs, key=lambda item: item[1].others_cores)
    print(
        f"other processes (PostgreSQL, Redis, anyone else): at most {run.others_cores:.2f} "
        f"of a core over a run ({worst})"
        + ("; the machine was shared, figures are disturbed" if run.others_cores > NOISY else "")
    )


def final(results: Results) -> int:
    print_table(results)
    print_details(results)
    print_noise(results)
    print("\ntargets (protected app; the unprotected baseline in brackets):")
    for what, figure, met in targets(results):
        verdict = "n/a" if met is None else "met" if met else "MISSED"
        print(f"  {what:<40} {figure:<46} {verdict}")
    ratio = results.runs["protected"]["3x"].total.goodput / results.b
    print(f"ratio: {ratio:.2f}")
    return 0
