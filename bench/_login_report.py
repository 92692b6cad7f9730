"""The output of ``bench/login.py``: the phases measured, the table, the targets.

Tooling reads the ``target alipay/wechat ...`` line and the last line, ``ratio: <value>``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from _loadgen import Tally

TARGET = 0.5  # README, "Benchmarks": login at 100 ms platform latency >= 0.5 x the rate at 0 ms
ALIPAY_TARGET = 0.8  # issue 11: Alipay logins/s at 0 ms latency >= 0.8 x WeChat's


@dataclass
class Phase:
    """Everything measured for one platform at one latency, summed over its windows."""

    platform: str
    latency_ms: int
    tally: Tally = field(default_factory=Tally)
    window_rates: list[float] = field(default_factory=list)
    app_cpu: float = 0.0  # CPU seconds in the windows
    emulator_cpu: float = 0.0  # both emulators
    machine_busy: float = 0.0  # busy CPU seconds of the whole machine in the windows
    machine_total: float = 0.0
    discarded: int = 0  # platform connections the app threw away (urllib3 pool full)


def print_table(phases: Sequence[Phase], concurrency: int, client_cpu: float) -> None:
    header = (
        f"{'platform':<9} {'latency':>8} {'clients':>7} {'logins/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>7}  {'app cpu':>7} {'emu cpu':>7} {'machine':>7} {'discards':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for p in phases:
        t = p.tally
        errors = ",".join(f"{k}:{v}" for k, v in sorted(t.failures.items())) or "0"
        print(
            f"{p.platform:<9} {p.latency_ms:>5} ms {concurrency:>7} {t.rate:>9.1f} "
            f"{t.percentile_ms(50):>7.0f} {t.percentile_ms(99):>7.0f} {errors:>7}  "
            f"{p.app_cpu / t.seconds:>7.0%} {p.emulator_cpu / t.seconds:>7.0%} "
            f"{p.machine_busy / max(p.machine_total, 1e-9):>7.0%} {p.discarded:>8}"
        )
    seconds = sum(p.tally.seconds for p in phases)
    for p in phases:
        print(
            f"  {p.platform} {p.latency_ms} ms per window (logins/s): "
            + " ".join(f"{r:.1f}" for r in p.window_rates)
        )
    print(
        "  app/emu cpu: share of one core used by gunicorn (master + workers) / the emulators;"
        f" machine: of all {os.cpu_count()} cores;\n  load generator: {client_cpu / seconds:.0%}"
        " of one core; errors: non-200 answers by status (conn = connection failures);\n"
        "  discards: platform connections the app opened beyond its urllib3 pool and threw away"
    )


def print_targets(phases: Sequence[Phase]) -> None:
    """Issue 11's Alipay/WeChat line, then WeChat's latency target, and last ``ratio: ...``."""
    wechat, latency, alipay = phases
    share = alipay.tally.rate / wechat.tally.rate if wechat.tally.rate else 0.0
    ratio = latency.tally.rate / wechat.tally.rate if wechat.tally.rate else 0.0
    print(
        f"target alipay/wechat at 0 ms >= {ALIPAY_TARGET}: {share:.2f} "
        f"{'met' if share >= ALIPAY_TARGET else 'MISSED'}"
    )
    print(f"  target: ratio >= {TARGET} ({'met' if ratio >= TARGET else 'MISSED'})")
    print(f"ratio: {ratio:.2f}")
