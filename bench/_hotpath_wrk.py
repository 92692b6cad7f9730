"""The closed-loop generator of ``bench/hotpath.py``: wrk, fed a list of requests.

wrk (C, epoll) keeps ``connections`` keep-alive connections each with one request in flight; on
one thread it sends tens of thousands of requests a second, far above what one app core serves,
so the generator is never what a figure measures (the Python generators of ``bench/`` would be
near the bare hello's rate on one core). A small Lua script cycles through pre-built requests
(each with its own session, so the per-session quota sees many users), counts the answers by
status, and prints one JSON line the bench reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
MARK = "HOTPATH "

# Each wrk thread has its own Lua state: init() builds every request once, request() hands them
# out in turn, response() counts statuses (wrk then parses each answer: cheap at these rates);
# setup() and done() run in the main state, which reads each thread's counts when it ends.
SCRIPT = r"""
local requests, count, turn = {}, 0, 0
statuses = {}

function init(args)
  for line in io.lines(args[1]) do
    local fields = {}
    for field in line:gmatch("[^\t]+") do fields[#fields + 1] = field end
    local headers = {}
    for i = 2, #fields do
      local name, value = fields[i]:match("^([^:]+): (.*)$")
      headers[name] = value
    end
    count = count + 1
    requests[count] = wrk.format("GET", fields[1], headers)
  end
end

function request()
  turn = turn % count + 1
  return requests[turn]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local totals, parts = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  local e = summary.errors
  io.write(string.format(
    '%s{"duration_us": %d, "requests": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p99_us": %d, "statuses": {%s}}\n',
    "__MARK__", summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ", ")))
end
""".replace("__MARK__", MARK)


@dataclass(frozen=True)
class Request:
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Run:
    """What one wrk run saw: answers by status, socket errors, latency of all answers."""

    seconds: float
    answers: int
    statuses: Mapping[int, int]
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        """200 answers a second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def others(self) -> str:
        """The answers that were not 200, and socket errors, e.g. ``429 x12, socket x1``."""
        found = [f"{s} x{n}" for s, n in sorted(self.statuses.items()) if s != 200]
        return ", ".join(found + ([f"socket x{self.socket_errors}"] if self.socket_errors else []))


def executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError(
            "wrk is not installed (the closed-loop generator): `apt-get install wrk` on Debian"
        )
    return found


class Wrk:
    """Runs wrk on this process's CPUs (children inherit the bench's pinning)."""

    def __init__(self, directory: Path, connections: int, timeout_seconds: int = 5) -> None:
        self.binary = executable()
        self.directory = directory
        self.connections = connections
        self.timeout_seconds = timeout_seconds
        self.script = directory / "hotpath.lua"
        self.script.write_text(SCRIPT)

    def requests_file(self, name: str, requests: Sequence[Request]) -> Path:
        """Write ``requests`` for wrk: a line each, path then ``Name: value`` fields, tabs."""
        path = self.directory / f"{name}.requests"
        lines = (
            "\t".join([r.path, *(f"{k}: {v}" for k, v in r.headers.items())]) for r in requests
        )
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, port: int, requests: Path, seconds: int) -> Run:
        argv = [
            self.binary,
            "--threads=1",
            f"--connections={self.connections}",
            f"--duration={seconds}s",
            f"--timeout={self.timeout_seconds}s",
            f"--script={self.script}",
            f"http://{LOOPBACK}:{port}",
            "--",
            str(requests),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        line = next((x for x in done.stdout.splitlines() if x.startswith(MARK)), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        found = json.loads(line[len(MARK) :])
        return Run(
            seconds=found["duration_us"] / 1e6,
            answers=found["requests"],
            statuses={int(k): v for k, v in found["statuses"].items()},
            socket_errors=sum(found[k] for k in ("connect", "read", "write", "timeout")),
            p50_ms=found["p50_us"] / 1000,
            p99_ms=found["p99_us"] / 1000,
        )
