"""Where the hot paths spend the workers' time: py-spy on gunicorn under bench-hotpath's load.

`make profile-hotpath` (= `.venv/bin/python bench/profile_hotpath.py`, about 2 minutes;
``--help`` for the knobs). The world, the app and the load are bench-hotpath's
(:mod:`hotpath`, :mod:`_hotpath_world`, :mod:`_hotpath_wrk`): families with results, sessions
and issued codes in a scratch PostgreSQL database and Redis db 7, the app with admission
control under ``config/gunicorn.conf.py`` (2 workers x 16 threads) on the app CPU, wrk's closed
loop from the other CPU. For each route (``GET /api/v1/results``, the lookup, and ``GET
/api/v1/residents/<id>/code``, the code JSON) a warm-up, then ``--seconds`` of load during which
``py-spy record --format raw`` samples the gunicorn master and its workers (``--subprocesses``,
``--rate`` per second, idle threads left out).

What is sampled: by default the thread holding each worker's GIL (py-spy ``--gil``), which is
where the worker's Python runs; ``--all-threads`` samples every thread the OS calls running
instead. On this bench's shape that second kind is not a CPU profile: 2 workers x 17 threads
share one core, and without py-spy about 15 of the 34 threads are runnable at any moment,
waiting for the core or a GIL just after a socket call (redis-py's ``sendall``/``recv_into``),
so 70-85% of such samples sit in those calls. py-spy pauses the workers while it reads a
sample (the default); ``--nonblocking`` does not, but then ~40% of the GIL samples fail on
stacks that change under the read, and every-thread sampling costs py-spy most of a core.

The collapsed stacks (one line per distinct stack: frames root first, ``;``-separated, then the
number of samples) are kept under ``instance/profile/`` with a ``summary.md``; the summary is
printed too: samples per route, and the top frames as ``module:function`` by inclusive share
(a frame counted once per sample wherever it is on the stack), by self share (the frame on
top), and self share by package. ``--summarise FILE...`` summarises collapsed files again
without running anything.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import hotpath  # noqa: E402  (after the sys.path line above)
from _hotpath_measure import Route  # noqa: E402
from _hotpath_wrk import Run, Wrk  # noqa: E402
from _overload_apps import Server, start_apps  # noqa: E402
from _procs import (  # noqa: E402
    Child,
    _children,
    cpu_sets,
    guarded,
    machine_busy_seconds,
    tree_cpu_seconds,
)

ROUTES = ("lookup", "code")  # bench-hotpath's names (hotpath.make_routes)
PROFILE_DIR = ROOT / "instance" / "profile"  # instance/ is gitignored
SPY_SAYS = re.compile(r"Samples: \d+ Errors: \d+")  # py-spy's last words
LEAD = 1.0  # seconds of load before py-spy starts: it samples steady load only
# wrk runs this much longer than py-spy is asked to sample: py-spy reads its samples one after
# the other and falls behind the clock (20 s took 22-25 s here), and it must end under load.
SLACK = 0.5
# The frames every stack starts with, left out of the inclusive table (they would fill its first
# rows): a gthread request thread's start, and the worker main thread's (forked by the arbiter).
PLUMBING = frozenset(
    {
        "threading:Thread._bootstrap",
        "threading:Thread._bootstrap_inner",
        "threading:Thread.run",
        "concurrent.futures.thread:_worker",
        "concurrent.futures.thread:_WorkItem.run",
        "gunicorn.workers.base:Worker.init_process",
        "gunicorn.workers.gthread:ThreadWorker.init_process",
        "miniapp_api.admission.door:SheddingThreadWorker.init_process",
        "gunicorn.workers.gthread:ThreadWorker.run",  # the main loop: its share is printed
    }
)
PLUMBING_MODULES = frozenset(
    {"runpy", "gunicorn.__main__", "gunicorn.app.base", "gunicorn.app.wsgiapp", "gunicorn.arbiter"}
)
REQUEST_THREAD = "concurrent.futures.thread:_worker"  # on every stack of a request thread


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--route", choices=(*ROUTES, "both"), default="both", help="what to profile (both)")
    add("--seconds", type=int, default=20, help="seconds sampled per route (20)")
    add("--rate", type=int, default=200, help="py-spy's samples per second (200)")
    add(
        "--all-threads",
        action="store_true",
        help="sample every thread the OS calls running, not only each worker's GIL holder "
        "(on one core most of them are waiting for it: see the module's docstring)",
    )
    add(
        "--nonblocking",
        action="store_true",
        help="py-spy reads the workers without pausing them (cheaper; many samples fail)",
    )
    add("--top", type=int, default=15, help="rows of each table (15)")
    add(
        "--out",
        type=Path,
        help="directory for the collapsed stacks and summary.md "
        "(instance/profile/hotpath-<commit>-<time>)",
    )
    add(
        "--summarise",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="only summarise these collapsed files (py-spy --format raw); runs nothing",
    )
    add("--accounts", type=int, default=1000, help="families, as bench-hotpath (1000)")
    add("--connections", type=int, default=32, help="wrk's keep-alive connections (32)")
    add(
        "--warmup",
        type=int,
        default=5,
        help="seconds of each route's load before py-spy, its rate the unprofiled one (5)",
    )
    add("--workers", type=int, default=2, help="MINIAPP_WORKERS for gunicorn (2)")
    add("--threads", type=int, default=16, help="MINIAPP_THREADS for gunicorn (16)")
    add(
        "--pin",
        choices=("split", "none"),
        default="split",
        help="split: wrk and py-spy on CPU 0, the app on the others; none: no pinning",
    )
    parser.set_defaults(png_warmup=0)  # hotpath.make_routes reads it; the PNG is not profiled
    args = parser.parse_args(argv)
    if min(args.seconds, args.rate, args.top, args.accounts, args.connections) < 1:
        parser.error("--seconds, --rate, --top, --accounts and --connections must be positive")
    return args


# --- collapsed stacks ------------------------------------------------------------------------
# py-spy's raw frames: ``function (file:line)`` (the qualified name from Python 3.11 on); with
# --subprocesses each stack starts with ``process <pid>:"<command line>"``, once for each
# process from the one given down to the sampled one (gunicorn's master, then the worker).
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
PROCESS = re.compile(r'^process (?P<pid>\d+):"')


def _roots() -> list[str]:
    """Directories a module path is relative to, longest first: the repository, this
    interpreter's site-packages and standard library (the workers run this interpreter)."""
    paths = sysconfig.get_paths()
    found = {str(ROOT), *(paths[k] for k in ("purelib", "platlib", "stdlib", "platstdlib"))}
    return sorted((p.rstrip("/") + "/" for p in found), key=len, reverse=True)


ROOTS = _roots()
ELSEWHERE = re.compile(r"^.*/(?:(?:site|dist)-packages|lib/python3\.\d+)/")


def module_of(filename: str) -> str:
    """``/…/site-packages/flask/app.py`` -> ``flask.app``; ``<frozen importlib._bootstrap>``
    -> ``importlib._bootstrap``."""
    if filename.startswith("<frozen ") and filename.endswith(">"):
        return filename[len("<frozen ") : -1]
    relative = next((filename[len(r) :] for r in ROOTS if filename.startswith(r)), None)
    if relative is None:
        relative = ELSEWHERE.sub("", filename)
    if relative.endswith(".py"):
        relative = relative[: -len(".py")]
    relative = relative.removesuffix("/__init__")
    return relative.strip("/").replace("/", ".")


def frame_name(frame: str) -> str:
    """``module:function`` of one raw frame (the line number dropped)."""
    found = FRAME.match(frame)
    if found is None:
        return frame
    return f"{module_of(found['file'])}:{found['function']}"


def package_of(name: str) -> str:
    """The package a ``module:function`` belongs to: ours to the second level
    (``miniapp_api.lookup``), anything else to the first (``werkzeug``, ``json``)."""
    parts = name.split(":", 1)[0].split(".")
    return ".".join(parts[:2]) if parts[0] in ("miniapp_api", "channels") else parts[0]


@dataclass
class Summary:
    """Samples of one collapsed file, by frame (``module:function``)."""

    samples: int = 0
    processes: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)  # self: the frame on top
    packages: Counter[str] = field(default_factory=Counter)  # self, by package
    threads: Counter[str] = field(default_factory=Counter)  # request threads or the main one

    def add(self, frames: Sequence[str], count: int) -> None:
        pid = None
        while frames and (process := PROCESS.match(frames[0])):
            pid, frames = process["pid"], frames[1:]
        if pid is not None:
            self.processes[pid] += count
        names = [frame_name(f) for f in frames]
        if not names:
            return
        self.samples += count
        for name in set(names):
            self.inclusive[name] += count
        self.own[names[-1]] += count
        self.packages[package_of(names[-1])] += count
        self.threads["request" if REQUEST_THREAD in names else "main"] += count


def summarise(lines: Iterable[str]) -> Summary:
    summary = Summary()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            summary.add(stack.split(";"), int(count))
    return summary


def table(
    title: str, counts: Counter[str], samples: int, top: int, us_per_answer: float | None
) -> str:
    """A Markdown table of the ``top`` entries of ``counts``: share of all samples and, when
    the CPU per answer is known, what that share of it comes to."""
    head = f"| # | {title} | share | samples |"
    rule = "|---:|---|---:|---:|"
    if us_per_answer is not None:
        head += " ≈ µs CPU per answer |"
        rule += "---:|"
    rows = [head, rule]
    for rank, (name, n) in enumerate(counts.most_common(top), 1):
        share = n / samples if samples else 0.0
        row = f"| {rank} | `{name}` | {100 * share:.1f}% | {n:,} |"
        if us_per_answer is not None:
            row += f" {share * us_per_answer:.0f} |"
        rows.append(row)
    return "\n".join(rows)


def plumbing(name: str) -> bool:
    return name in PLUMBING or name.split(":", 1)[0] in PLUMBING_MODULES


def report(summary: Summary, top: int, us_per_answer: float | None) -> str:
    inclusive = Counter({k: v for k, v in summary.inclusive.items() if not plumbing(k)})
    main = summary.threads["main"] / summary.samples if summary.samples else 0.0
    return "\n\n".join(
        [
            f"Request threads {1 - main:.1%} of the samples, the workers' main threads (gunicorn's "
            f"loop: accept, poll, hand a request to a thread, keep-alive) {main:.1%}.",
            f"Top {top} frames by inclusive share (left out: the frames a request thread or a "
            f"worker's main loop starts with, `{'`, `'.join(sorted(PLUMBING_MODULES))}`)",
            table("frame (inclusive)", inclusive, summary.samples, top, us_per_answer),
            f"Top {top} frames by self share",
            table("frame (self)", summary.own, summary.samples, top, us_per_answer),
            "Self share by package",
            table("package (self)", summary.packages, summary.samples, top, us_per_answer),
        ]
    )


# --- the run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One route's profiled window: the load it ran under, and what py-spy wrote."""

    route: Route
    path: Path  # the collapsed stacks
    load: Run  # wrk's whole run (longer than py-spy's window on both sides)
    unprofiled: Run | None  # the warm-up, without py-spy
    unprofiled_cpu_seconds: float  # the app's, over the warm-up
    seconds: float  # py-spy's window
    app_cpu_seconds: float  # gunicorn and its workers, over the window
    machine_share: float  # of all cores, over the window
    workers: dict[int, float]  # pid: CPU seconds over the window
    spy_says: str  # py-spy's count: ``Samples: <n> Errors: <n>``

    @property
    def us_per_answer(self) -> float | None:
        """The app's CPU per 200 answer over the window (the answers at wrk's mean rate)."""
        answers = self.load.rate * self.seconds
        return 1e6 * self.app_cpu_seconds / answers if answers else None

    def unprofiled_text(self) -> str:
        """The warm-up's rate and CPU per answer, without py-spy: what sampling costs."""
        run = self.unprofiled
        if run is None or not run.ok:
            return ""
        return (
            f" ({run.rate:.0f}/s and {1e6 * self.unprofiled_cpu_seconds / run.ok:.0f} µs of CPU "
            f"per answer in the warm-up without)"
        )


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: `make .venv/.installed-stamp` (dev pins)")
    return found


def commit() -> str:
    """``git rev-parse --short HEAD``, with ``+local changes`` when the app's code differs."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "miniapp_api", "channels", "config", "wsgi.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +local changes" if changed else "")


def spy_flags(args: argparse.Namespace) -> str:
    """The options that tell what was sampled, as on py-spy's command line."""
    return ("" if args.all_threads else " --gil") + (" --nonblocking" if args.nonblocking else "")


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarise:
        for path in args.summarise:
            with path.open() as lines:
                summary = summarise(lines)
            print(f"## {path}: {summary.samples:,} samples\n\n{report(summary, args.top, None)}\n")
        return 0
    own_cpus, app_cpus = cpu_sets(args.pin)
    version = commit()
    out = args.out or PROFILE_DIR / (
        f"hotpath-{version.split()[0]}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    out.mkdir(parents=True, exist_ok=True)
    say(
        f"bench/profile_hotpath: py-spy on the app's workers under bench-hotpath's load, "
        f"commit {version}\n"
        f"  gunicorn (config/gunicorn.conf.py) MINIAPP_WORKERS={args.workers} "
        f"MINIAPP_THREADS={args.threads}, admission on; wrk closed loop, "
        f"{args.connections} connections, {args.warmup}s warm-up; py-spy record --format raw "
        f"--rate {args.rate} --subprocesses{spy_flags(args)} "
        f"(idle threads left out) for {args.seconds}s per route"
    )
    if own_cpus is not None and app_cpus is not None:
        say(
            f"  pinning: app on CPU {','.join(map(str, sorted(app_cpus)))}; wrk and py-spy on "
            f"CPU {','.join(map(str, sorted(own_cpus)))}"
        )
    windows = guarded("profile_hotpath", lambda stack: run(stack, args, own_cpus, app_cpus, out))
    if isinstance(windows, int):
        return windows
    text = summary_text(windows, args, version)
    (out / "summary.md").write_text(text)
    print("\n" + text)
    say(f"collapsed stacks and summary.md in {out}")
    return 0


def run(
    stack: ExitStack,
    args: argparse.Namespace,
    own_cpus: set[int] | None,
    app_cpus: set[int] | None,
    out: Path,
) -> list[Window]:
    """bench-hotpath's set-up (clean-ups go on ``stack``), then each route profiled."""
    started = time.monotonic()
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-profile-")))
    wrk = Wrk(directory, args.connections)  # before any set-up: fail now if wrk is missing
    spy = py_spy()
    if own_cpus is not None:
        os.sched_setaffinity(0, own_cpus)  # wrk and py-spy inherit it
    database, keys, families = hotpath.load_world(stack, args.accounts, "bench_profile")
    ours, bare, hello = start_apps(
        stack, database.url, hotpath.REDIS_URL, keys, args.workers, args.threads, app_cpus, []
    )
    bare.child.stop()  # only ``ours`` is profiled
    hello.child.stop()
    issued = hotpath.issue_every_code(ours, families)
    say(f"  up in {time.monotonic() - started:.0f}s: {issued:,} codes issued through the app")
    routes = {r.name: r for r in hotpath.make_routes(args, wrk, families, [])}
    chosen = ROUTES if args.route == "both" else (args.route,)
    return [profile(wrk, spy, ours, routes[name], args, out) for name in chosen]


def profile(
    wrk: Wrk, spy: str, ours: Server, route: Route, args: argparse.Namespace, out: Path
) -> Window:
    """``route``'s warm-up, then wrk's load with py-spy from LEAD seconds in, for ``--seconds``
    (its samples' worth: a little longer on the clock)."""
    cpu0 = ours.cpu_seconds()
    unprofiled = wrk.run(ours.port, route.file, route.warmup) if route.warmup else None
    unprofiled_cpu = ours.cpu_seconds() - cpu0
    ours.wait_idle(timeout=10)
    workers = _children(ours.child.pid)
    path = out / f"{route.name}.collapsed.txt"
    argv = [
        spy,
        "record",
        "--pid",
        str(ours.child.pid),
        "--subprocesses",
        "--format",
        "raw",
        "--full-filenames",  # made package-relative by the summary (module_of)
        "--rate",
        str(args.rate),
        "--duration",
        str(args.seconds),
        "--output",
        str(path),
        *([] if args.all_threads else ["--gil"]),
        *(["--nonblocking"] if args.nonblocking else []),
    ]
    with ThreadPoolExecutor(1) as pool:
        length = math.ceil(LEAD + args.seconds * (1 + SLACK))
        load = pool.submit(wrk.run, ours.port, route.file, length)
        time.sleep(LEAD)
        busy0, total0 = machine_busy_seconds()
        cpu0, started = ours.cpu_seconds(), time.monotonic()
        each0 = {pid: tree_cpu_seconds(pid) for pid in workers}
        spying = Child(f"py-spy-{route.name}", argv, dict(os.environ), ROOT)
        try:
            status = spying.proc.wait(timeout=args.seconds + 60)
            seconds = time.monotonic() - started
            cpu = ours.cpu_seconds() - cpu0
            each = {pid: tree_cpu_seconds(pid) - each0[pid] for pid in workers}
            busy1, total1 = machine_busy_seconds()
            said = spying.log_text()
        finally:
            spying.stop()
            spying.close()
        run = load.result()
    if status != 0 or not path.exists():
        raise RuntimeError(f"py-spy failed ({status}) on {route.name}:\n{said[-2000:]}")
    spy_says = found[0] if (found := SPY_SAYS.findall(said)) else "no sample count"
    window = Window(
        route,
        path,
        run,
        unprofiled,
        unprofiled_cpu,
        seconds,
        cpu,
        (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0,
        each,
        spy_says,
    )
    say(
        f"    {route.name}: {run.rate:.0f}/s under py-spy"
        f"{window.unprofiled_text()}"
        f"{f' ({others})' if (others := run.others()) else ''}, app CPU "
        f"{cpu / seconds:.0%} of a core, py-spy {spy_says}"
    )
    return window


def summary_text(windows: Sequence[Window], args: argparse.Namespace, version: str) -> str:
    what = "" if args.all_threads else " (a tick's sample of a worker is its GIL holder)"
    parts = [
        f"# py-spy profile of the hot paths (commit {version})\n\n"
        f"`{' '.join(['bench/profile_hotpath.py', *sys.argv[1:]])}`: bench-hotpath's world and app "
        f"(admission on, {args.workers} workers x {args.threads} threads), wrk closed loop "
        f"({args.connections} connections), py-spy `record --format raw --rate {args.rate} "
        f"--subprocesses{spy_flags(args)}` (idle threads left out) for {args.seconds} s per "
        f"route. A share is of all the route's samples{what}"
        f"; ≈ µs per answer is that share of the app's CPU (user and system, from /proc) per "
        f"200 answer over the window, an upper estimate: the system part (socket calls, made "
        f"without the GIL) is spread over the frames too."
    ]
    for window in windows:
        with window.path.open() as lines:
            summary = summarise(lines)
        us = window.us_per_answer
        processes = ", ".join(f"{pid}: {n:,}" for pid, n in sorted(summary.processes.items()))
        workers = ", ".join(
            f"{pid}: {cpu / window.seconds:.0%} of a core" for pid, cpu in window.workers.items()
        )
        parts.append(
            f"## {window.route.name}: {window.route.label}\n\n"
            f"- samples: {summary.samples:,} in {window.seconds:.1f} s (by process: "
            f"{processes}); py-spy: {window.spy_says}\n"
            f"- workers' CPU over the window: {workers} (a keep-alive connection stays with the "
            f"worker that accepted it)\n"
            f"- load: {window.load.rate:.0f} answers 200/s under py-spy, "
            f"p50 {window.load.p50_ms:.1f} ms, p99 {window.load.p99_ms:.1f} ms"
            f"{f', others: {o}' if (o := window.load.others()) else ''}; app CPU "
            f"{window.app_cpu_seconds / window.seconds:.0%} of a core"
            f"{f', {us:.0f} µs per answer' if us is not None else ''}"
            f"{window.unprofiled_text()}; machine busy {window.machine_share:.0%} of all cores\n"
            f"- collapsed stacks: `{window.path}`\n\n"
            f"{report(summary, args.top, us)}"
        )
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
