"""The purge on a schedule, one node at a time: every ``RETENTION.SCHEDULE_MINUTES``, under a
Redis lock, in a thread of ``miniapp worker`` (composed in ``miniapp_api/cli.py``).

Every worker node runs the schedule; whichever takes ``retention:{purge}:lock`` first purges, the
others find it held and wait for their next turn. The lock is a random token with a short
expiry, renewed between batches (a batch is far shorter than the expiry); a node that died
mid-purge holds it at most :data:`LOCK_SECONDS` longer. A node that finds its lock gone (it
stalled past the expiry and another took over) stops after its current batch. ``miniapp
retention purge`` takes the same lock, so a manual run and the schedule never overlap.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis

from miniapp_api.retention.purge import Kind, Purge, PurgeReport, purge

log = logging.getLogger(__name__)

LOCK_KEY = "retention:{purge}:lock"
LOCK_SECONDS = 120
# Spread the nodes' first runs over this long after start-up (they also contend for the lock).
FIRST_RUN_SPREAD_SECONDS = 60.0

# Renew (KEYS[1], to ARGV[2] ms) or release (ARGV[2] empty) the lock only while it is ours.
_IF_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


class PurgeLocked(RuntimeError):
    """Another purge (a node's schedule, or someone's ``miniapp retention purge``) is running."""


def purge_locked(
    client: redis.Redis,
    make_job: Callable[[], Purge],
    *,
    kinds: tuple[Kind, ...] = tuple(Kind),
    stop: threading.Event | None = None,
) -> PurgeReport:
    """:func:`purge` while holding :data:`LOCK_KEY`; :class:`PurgeLocked` if it is taken."""
    token = secrets.token_hex(16)
    if not client.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        raise PurgeLocked("another retention purge is running (retention:{purge}:lock is held)")
    if_ours = client.register_script(_IF_OURS)

    def renew() -> bool:
        return bool(if_ours(keys=[LOCK_KEY], args=[token, LOCK_SECONDS * 1000]))

    try:
        return purge(make_job(), kinds=kinds, stop=stop, keep_going=renew)
    finally:
        if_ours(keys=[LOCK_KEY], args=[token, ""])


@dataclass(frozen=True)
class PurgeSchedule:
    """Runs :func:`purge_locked` every ``minutes`` until ``stop`` is set (``minutes`` 0: never)."""

    client: redis.Redis
    make_job: Callable[[], Purge]
    minutes: int

    def start(self, stop: threading.Event) -> threading.Thread | None:
        """The schedule's daemon thread, started; None when the schedule is off."""
        if self.minutes <= 0:
            log.info("retention purge: not scheduled (RETENTION.SCHEDULE_MINUTES = 0)")
            return None
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="retention-purge", daemon=True
        )
        thread.start()
        return thread

    def run_forever(self, stop: threading.Event) -> None:
        wait = random.uniform(0, min(FIRST_RUN_SPREAD_SECONDS, self.minutes * 60.0))
        while not stop.wait(wait):
            self.run_once(stop)
            wait = self.minutes * 60.0

    def run_once(self, stop: threading.Event) -> PurgeReport | None:
        """One purge if the lock is free; its report (logged), or None."""
        try:
            report = purge_locked(self.client, self.make_job, stop=stop)
        except PurgeLocked:
            log.info("retention purge: another node is purging; next turn later")
            return None
        except Exception as exc:  # the database or Redis is down, or a bug: try next turn
            # Only the type: a driver's message can quote statement parameters.
            log.error("retention purge failed (%s); next turn later", type(exc).__name__)
            return None
        log.info(
            "retention purge: %d rows in %d batches, %.1f s; %s",
            report.rows,
            report.batches,
            report.seconds,
            "; ".join(report.lines()),
        )
        return report
