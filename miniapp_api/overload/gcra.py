"""GCRA (generic cell rate algorithm) in one Lua script: O(1), one key, no per-request log.

A bucket is one Redis string holding its *theoretical arrival time* (TAT) in microseconds.
Admitting a request moves the TAT forward by one emission interval (1 / rate); a request is
refused when that would put the TAT more than the burst tolerance ahead of now. That is a token
bucket seen from the other side, stored in one number.

Traffic classes share a bucket through ``share``: a class may only use that fraction of the
burst allowance beyond the first request. Critical traffic (share 1.0) can fill the bucket to
the top; sheddable traffic (e.g. 0.5) is refused as soon as the bucket is half full. Under
overload the bucket sits near the top, so lower classes are refused first and critical
traffic keeps the whole rate: the reserved share of critical traffic, with no extra keys.

The script reads the clock with ``TIME`` on the Redis server, so every worker agrees on "now".
It touches one key, so it runs unchanged on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

# A Lua function, so that other single-slot scripts can draw on a bucket of their slot (the
# admission gate's session script: miniapp_api/admission/prefetch.py). Arguments: the bucket's
# key, emission interval (us), burst tolerance (us), share (per mille), cost. Returns
# {admitted (0/1), retry after (us)}.
GCRA_FUNCTION = """
local function gcra(key, interval, burst, share, cost)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  interval = tonumber(interval)
  local limit = interval + (tonumber(burst) - interval) * tonumber(share) / 1000
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * tonumber(cost)
  local ahead = new_tat - now
  if ahead > limit then
    return {0, math.ceil(ahead - limit)}
  end
  redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
  return {1, 0}
end
"""

# KEYS[1] bucket; ARGV: emission interval (us), burst tolerance (us), share (per mille), cost.
GCRA_LUA = GCRA_FUNCTION + "return gcra(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"


@dataclass(frozen=True)
class Rate:
    """``per_second`` requests on average, with up to ``burst`` at once (``burst`` >= 1)."""

    per_second: float
    burst: float

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0

    def split(self, parts: int) -> Rate:
        """One of ``parts`` equal shards of this rate (a hot global key spread over N keys)."""
        return Rate(self.per_second / parts, max(1.0, self.burst / parts))

    def script_args(self, share: float, cost: int = 1) -> tuple[int, int, int, int]:
        interval_us = max(1, round(1_000_000 / self.per_second))
        return interval_us, round(interval_us * self.burst), round(share * 1000), cost


def decision(reply: object) -> tuple[bool, float]:
    """``(admitted, retry_after_seconds)`` from the script's reply."""
    if not isinstance(reply, list | tuple) or len(reply) != 2:
        raise ValueError(f"unexpected GCRA reply: {reply!r}")
    return bool(int(reply[0])), int(reply[1]) / 1_000_000
