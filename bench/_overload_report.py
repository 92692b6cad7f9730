"""What ``bench/overload.py`` prints: the set-up, the table, the targets and the ratio."""

from __future__ import annotations

import argparse

from _overload_measure import Summary
from _overload_scenarios import CAPACITY_LATENCY, Run
from _overload_targets import Quota, Results, direct_targets, front_targets, ms, recovery_threshold

__all__ = ["Quota", "Results", "final", "header"]

NOISY = 0.5  # cores used by others beyond which a run is called disturbed
LAG_WARN_MS = 10.0  # the generator's own lateness (p99) beyond which a row is suspect


def header(args: argparse.Namespace, own: set[int] | None, app: set[int] | None) -> None:
    print("bench/overload: admission control under open-loop overload, beside the same app without")
    print(
        f"  gunicorn gthread (config/gunicorn.conf.py): MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}; MINIAPP_OVERLOAD__ENABLED=true (protected) / false "
        f"(unprotected); MINIAPP_APP__TRUSTED_PROXIES=1"
        f"{' ' + args.gunicorn_args if args.gunicorn_args else ''}\n"
        f"  configurations: {', '.join(args.configs)} (front: HAProxy in front of the protected "
        f"app, front-bare: in front of the unprotected one, front-nodoor: in front of the "
        f"protected app on plain gthread;\n  the same node processes as "
        f"without a front, node maxconn = {args.workers * args.threads}; through a front each "
        f"group of users sends from its own 127.1.x.y)\n"
        f"  load: open loop, Poisson arrivals, latency from the intended send time, client "
        f"deadline {args.deadline:g}s; warm-up {args.warmup:g}s, then {args.measure:g}s "
        f"measured per scenario; {args.users:,} residents with sessions"
    )
    if own is not None and app is not None:
        print(
            f"  pinning: servers and HAProxy on CPU {','.join(map(str, sorted(app)))}; generator "
            f"on CPU {','.join(map(str, sorted(own)))}; PostgreSQL and Redis unpinned"
        )
    else:
        print("  pinning: none")


# --- the table -----------------------------------------------------------------------------
COLUMNS = (
    f"{'scenario':<14} {'config':<11} {'offered/s':>9} {'goodput/s':>9} {'/B':>5} {'p50 ms':>6} "
    f"{'p99 ms':>6} {'429':>5} {'503':>5} {'rej p99':>7} {'lag':>5} {'cpu':>4} {'mach':>4} "
    f"{'RSS MB':>8}  failed"
)


def row(label: str, app: str, s: Summary, b: float, run: Run, rss: str) -> str:
    lag = s.lag_ms(99)
    warn = " (generator late)" if lag > LAG_WARN_MS else ""
    return (
        f"{label:<14} {app:<11} {s.offered_rate:>9.0f} {s.goodput:>9.0f} {s.goodput / b:>5.2f} "
        f"{ms(s.ok_ms(50)):>6} {ms(s.ok_ms(99)):>6} {s.statuses[429]:>5} {s.statuses[503]:>5} "
        f"{ms(s.rejected_ms(99)):>7} {ms(lag):>5} {run.app_share:>4.0%} "
        f"{run.machine_share:>4.0%} {rss:>8}  {s.others()}{warn}"
    )


def print_table(results: Results) -> None:
    configs = results.configs
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
        for app in configs:
            plain = results.runs[app][scenario]
            summary = plain.total if tag is None else plain.by_tag[tag]
            rss = plain.run.rss
            text = f"{rss[0][1]:.0f}>{max(mb for _, mb in rss):.0f}" if rss else "-"
            b = results.b[app]
            print(row(label if app == configs[0] else "", app, summary, b, plain.run, text))
    for app in configs:
        s = results.surges[app]
        text = f"{s.rss_before:.0f}>{s.rss_peak:.0f}"
        print(row("10x B" if app == configs[0] else "", app, s.surge, results.b[app], s.run, text))
    print(LEGEND)


LEGEND = """\
  config: protected/unprotected: the app without a front; front/front-bare: HAProxy in front
  of the one/the other (front-nodoor: of the protected app without its door); goodput: 2xx
  within the deadline per second; /B: goodput over the configuration's B (the protected
  app's without a front, the front's through it); p50/p99: of the 2xx answers; rej p99: of
  the 429 and 503 answers; all latencies from the intended send time; lag: p99 of how late
  the generator itself got to a request (ms); cpu: the server's CPU (with a front: HAProxy
  and the node together), share of one core; mach: the whole machine busy (both cores,
  everyone's processes: PostgreSQL, Redis, the generator, others); RSS: gunicorn workers'
  resident memory summed, at the start > the peak; failed: other statuses, timeout (the
  client deadline), conn (refused or reset), noconn (no connection free until the deadline)"""


def print_details(results: Results) -> None:
    cap = results.capacity
    if cap:
        found = ", ".join(f"{name} {c.rate:.0f}/s" for name, c in cap.items())
        print(f"\ncapacity (p99 < {CAPACITY_LATENCY * 1000:.0f} ms): {found}")
        for name, c in cap.items():
            print(f"  {name}: {c.line()}")
    else:
        print(f"\ncapacity: B = {results.args.capacity:.0f}/s given with --capacity (no search)")
    gen = results.generator
    if gen is not None:
        s, out = gen.total, gen.run.outcome
        verdict = "keeps up" if s.lag_ms(99) <= LAG_WARN_MS and s.ok == s.offered else "FELL BEHIND"
        print(
            f"generator against a trivial server: offered {s.offered_rate:.0f}/s, answered "
            f"{s.goodput:.0f}/s, p99 {ms(s.ok_ms(99))} ms, own lag p99 {ms(s.lag_ms(99))} ms, "
            f"{out.cpu_seconds / max(out.wall_seconds, 1e-9):.0%} of its CPU: {verdict} at 10x "
            "the largest B"
        )
    for app in results.configs:
        surge, b = results.surges[app], results.b[app]
        threshold = recovery_threshold(surge)
        after = " ".join(ms(w.all_ms(99)) for w in surge.after)
        back = surge.recovered_after(threshold)
        print(
            f"after 10x B, {app}: p99 per second at {b / 2:.0f}/s (before the surge "
            f"{ms(surge.normal.all_ms(99))} ms; normal = under {threshold:.0f} ms): {after}; "
            + (f"normal after {back:.0f}s" if back is not None else "not back within the window")
        )


def print_noise(results: Results) -> None:
    """Say how much else ran: the box is shared, and other people's tests move the figures."""
    runs = [
        (f"{scenario} {app}", p.run) for app, d in results.runs.items() for scenario, p in d.items()
    ]
    runs += [(f"10x {app}", s.run) for app, s in results.surges.items()]
    worst, run = max(runs, key=lambda item: item[1].others_cores)
    busiest = max(r.machine_share for _, r in runs)
    print(
        f"other processes (PostgreSQL, Redis, anyone else): at most {run.others_cores:.2f} "
        f"of a core over a run ({worst}); the whole machine at most {busiest:.0%} busy"
        + ("; the machine was shared, figures are disturbed" if run.others_cores > NOISY else "")
    )


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "MISSED"


def final(results: Results) -> int:
    print_table(results)
    print_details(results)
    print_noise(results)
    configs = results.configs
    if "protected" in configs:
        print("\ntargets of the app without a front (protected; the unprotected app in brackets):")
        for what, figure, met in direct_targets(results):
            print(f"  {what:<40} {figure:<46} {_verdict(met)}")
    if "front" in configs:
        print("\ntargets through the front door (front; the others in brackets):")
        for what, figure, met in front_targets(results):
            print(f"target {what}: {figure} {_verdict(met)}")
    # The front door's ratio when it ran (issue 10), else the protected app's, else the first.
    name = next((n for n in ("front", "protected") if n in configs), configs[0])
    ratio = results.runs[name]["3x"].total.goodput / results.b[name]
    print(f"ratio: {ratio:.2f}")
    return 0
