"""The admission gate: every request is admitted or refused here, before any work.

Order of the checks, cheapest first:

1. the route's traffic class (:mod:`.routes`) and the caller's channel (no I/O);
2. the operator's modes (read-only), from the worker's local copy of the controls;
3. the worker's adaptive in-flight limit (no I/O; :mod:`.adaptive`);
4. one Redis pipeline: the per-user, per-channel, per-class and global GCRA decisions (each a
   single-slot script, so each runs on Redis Cluster; the channel and global budgets are split
   over N keys of rate/N, one picked at random, so no key is a hot shard), plus the caller's
   session (handed to the view, which then needs no round trip of its own) and, at most every
   half second, the controls document. For a resident's token, the per-user decision, the
   session and what the route reads of the account view are one script on the account's slot
   (:mod:`.prefetch`): the results and code screens then answer in this one round trip.

If Redis cannot be reached, critical routes fail open on a per-worker token bucket, abusable and
lower-class routes fail closed; after a failure the gate decides locally for
``breaker_seconds`` instead of waiting on a timeout per request.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from miniapp_api.accountview import PREFETCHED_VIEW, KeptScreen
from miniapp_api.admission import prefetch
from miniapp_api.admission.adaptive import AdaptiveConcurrency
from miniapp_api.admission.local_bucket import LocalBucket
from miniapp_api.admission.refusals import RecentRefusals
from miniapp_api.admission.routes import Route, RouteClassifier
from miniapp_api.api import TrafficClass
from miniapp_api.overload import metrics
from miniapp_api.overload.controls import (
    CONTROLS_KEY,
    PLATFORM_STATUS_KEY,
    Controls,
    ControlsCache,
    Limits,
)
from miniapp_api.overload.gcra import GCRA_LUA, Rate, decision
from miniapp_api.overload.rejection import Rejection, channel_for
from miniapp_api.redis_client import REDIS_DOWN, ThreadConnections
from miniapp_api.security.networks import client_network
from miniapp_api.security.session_tokens import account_hint, bearer_token
from miniapp_api.sessions import PREFETCHED_SESSION, PrefetchedSession, SessionStore
from miniapp_api.settings import OverloadSettings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Admitted:
    """A request let through; :meth:`AdmissionGate.finish` gives its slot back."""

    traffic: TrafficClass
    channel: str
    started: float
    holds_slot: bool
    # The route's kept screen and its field in the caller's account view, if it has one.
    kept: tuple[KeptScreen, str] | None = None


@dataclass(frozen=True)
class _Asking:
    """One request as the Redis part of the decision sees it."""

    environ: dict[str, Any]
    route: Route
    fields: list[str]  # of the caller's account view, to read with the session
    channel: str
    share: float  # of the user's burst this class may use
    token: str | None  # the Authorization header's bearer token, read once


@dataclass(frozen=True)
class Refused:
    rejection: Rejection
    channel: str


class RedisBreaker:
    """After a Redis failure, skip Redis for a while rather than wait on each timeout."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._open_until = float("-inf")

    @property
    def open(self) -> bool:
        return self._clock() < self._open_until

    def trip(self) -> None:
        self._open_until = self._clock() + self.seconds


class AdmissionGate:
    """Decides per request; one instance per app, shared by the worker's threads."""

    def __init__(
        self,
        *,
        classifier: RouteClassifier,
        client: redis.Redis,
        sessions: SessionStore,
        staff_sessions: SessionStore,
        settings: OverloadSettings,
        controls: ControlsCache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.classifier = classifier
        self.redis = client
        self._direct = ThreadConnections(client) if ThreadConnections.usable_for(client) else None
        self.sessions = sessions
        self.staff_sessions = staff_sessions
        self.settings = settings
        self.controls = controls
        self.concurrency = AdaptiveConcurrency(
            settings.concurrency_initial, settings.concurrency_min, settings.concurrency_max
        )
        self.fail_open = LocalBucket(settings.fail_open_rate, settings.fail_open_rate)
        self.breaker = RedisBreaker(settings.breaker_seconds, clock)
        self.refusals = RecentRefusals(clock)
        self._clock = clock
        self._script_sha = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()
        self._script_lock = threading.Lock()
        self._shown_limit: float | None = None

    # -- the decision ------------------------------------------------------------------------

    def admit(self, environ: dict[str, Any]) -> Admitted | Refused | None:
        """``None`` for exempt routes (probes, metrics), else admitted or refused."""
        route, arguments = self.classifier.classify(environ)
        if route.exempt:
            return None
        token = bearer_token(environ)
        channel = channel_for(token, environ)
        traffic = route.traffic
        if _read_only_refuses(self.controls.current, traffic, environ):
            # Refused before the pipeline that refreshes the controls: refresh them here, or a
            # worker seeing only writes would never notice read-only being switched off.
            self._refresh_controls_alone()
            if _read_only_refuses(self.controls.current, traffic, environ):
                return self._refuse(traffic, channel, Rejection(503, "read_only", 30.0))
        controls = self.controls.current
        share = _share(traffic, controls.limits)
        if not self.concurrency.try_acquire(share):
            return self._refuse(traffic, channel, Rejection(503, "local_concurrency", 1.0))
        kept = route.kept_for(environ, arguments)
        fields = [kept[1]] if kept else []
        started = self._clock()
        try:
            asking = _Asking(environ, route, fields, channel, share, token)
            rejection = self._decide_in_redis(asking)
        except BaseException:
            self.concurrency.release(self._clock() - started)
            raise
        if rejection is not None:
            self.concurrency.release(self._clock() - started)
            return self._refuse(traffic, channel, rejection)
        return Admitted(traffic, channel, started, holds_slot=True, kept=kept)

    def _refresh_controls_alone(self) -> None:
        """Re-read the controls if due (at most every ``controls_refresh_seconds``)."""
        if self.breaker.open or not self.controls.claim_refresh():
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(CONTROLS_KEY)
        pipe.hgetall(PLATFORM_STATUS_KEY)
        try:
            doc, platforms = pipe.execute()
        except REDIS_DOWN:
            self.breaker.trip()
            return
        self.controls.update(doc, platforms)

    def finish(self, admitted: Admitted) -> None:
        metrics.observe_duration(admitted.traffic.value, self._clock() - admitted.started)
        if admitted.holds_slot:
            self.concurrency.release(self._clock() - admitted.started)
            limit = self.concurrency.limit
            if limit != self._shown_limit:  # a gauge write is an mmap write under gunicorn
                self._shown_limit = limit
                metrics.CONCURRENCY_LIMIT.set(limit)

    def _refuse(self, traffic: TrafficClass, channel: str, rejection: Rejection) -> Refused:
        metrics.count(traffic.value, channel, "rejected", rejection.reason)
        return Refused(rejection, channel)

    def _decide_in_redis(self, asking: _Asking) -> Rejection | None:
        route, channel = asking.route, asking.channel
        if self.breaker.open:
            return self._redis_unreachable(route, channel)
        try:
            rejection = self._pipeline(asking)
        except REDIS_DOWN as exc:
            log.warning("admission: Redis unreachable (%s); deciding locally", type(exc).__name__)
            self.breaker.trip()
            return self._redis_unreachable(route, channel)
        if rejection is None:
            metrics.count(route.traffic.value, channel, "admitted", "ok")
        return rejection

    def _redis_unreachable(self, route: Route, channel: str) -> Rejection | None:
        """Critical routes fail open on the local bucket; abusable and the rest fail closed."""
        if route.traffic is TrafficClass.CRITICAL and not route.abusable and self.fail_open.take():
            metrics.count(route.traffic.value, channel, "admitted", "fail_open")
            return None
        return Rejection(503, "redis_unavailable", 5.0)

    def _pipeline(self, asking: _Asking) -> Rejection | None:
        try:
            return self._pipeline_once(asking)
        except redis.exceptions.NoScriptError:
            # A new, restarted or failed-over Redis has no script cache: load them, go again.
            with self._script_lock:
                self.redis.script_load(GCRA_LUA)
                self.redis.script_load(prefetch.PREFETCH_LUA)
            return self._pipeline_once(asking)

    def _pipeline_once(self, asking: _Asking) -> Rejection | None:
        environ, channel, share = asking.environ, asking.channel, asking.share
        traffic = asking.route.traffic
        limits = self.controls.current.limits
        token = asking.token
        staff = asking.route.staff
        sessions = self.staff_sessions if staff else self.sessions
        session_key = sessions.key_for(token) if token else None
        account = account_hint(token) if token else None
        if account is None:
            user_key = _user_key(session_key, environ)
        else:  # a resident's account or a staff member: their own quota, never the address's
            user_key = prefetch.staff_quota_key(account) if staff else prefetch.quota_key(account)
        wait = self.refusals.wait(user_key, share)
        if wait > 0:  # refused a moment ago and not yet allowed back: no need to ask Redis
            return Rejection(429, "user_quota", max(1.0, wait))
        commands: list[tuple[object, ...]] = []
        refresh = self.controls.claim_refresh()
        if refresh:
            commands += [("GET", CONTROLS_KEY), ("HGETALL", PLATFORM_STATUS_KEY)]
        user_rate = Rate(limits.user_rate, limits.user_burst)
        fields = asking.fields
        if account is not None and session_key is not None and staff:
            staff_rate = Rate(limits.staff_rate, limits.staff_burst)
            commands.append(
                ("EVALSHA", *prefetch.staff_args(sessions, session_key, account, staff_rate, share))
            )
        elif account is not None and session_key is not None:
            args = prefetch.prefetch_args(sessions, session_key, account, user_rate, share, fields)
            commands.append(("EVALSHA", *args))
        elif session_key is not None:
            commands.append(("HGETALL", session_key))
        buckets = self._buckets(limits, traffic, channel, user_key, user=account is None)
        for key, rate, _ in buckets:
            commands.append(("EVALSHA", self._script_sha, 1, key, *rate.script_args(share)))
        replies = self._send(commands)
        if refresh:
            self.controls.update(replies[0], replies[1])
            replies = replies[2:]
            if _read_only_refuses(self.controls.current, traffic, environ):
                # Switched on just now: this request must not be the one that slips through.
                return Rejection(503, "read_only", 30.0)
        unknown_token = False
        site: bytes | str | None = None
        if account is not None and session_key is not None:
            found = prefetch.parse(replies[0], account, fields)
            site = found.session.get(b"site") if staff else None
            environ[PREFETCHED_SESSION] = PrefetchedSession(session_key, found.session)
            if found.view is not None:
                environ[PREFETCHED_VIEW] = found.view
            unknown_token = not found.session
            replies = replies[1:]
            if not found.admitted:
                self.refusals.remember(user_key, found.retry_after, share)
                return Rejection(429, "user_quota", max(1.0, found.retry_after))
        elif session_key is not None:
            environ[PREFETCHED_SESSION] = PrefetchedSession(session_key, replies[0])
            unknown_token = not replies[0]
            replies = replies[1:]
        for (_, _, reason), reply in zip(buckets, replies, strict=True):
            admitted, retry_after = decision(reply)
            if not admitted:
                if reason == "user_quota":
                    self.refusals.remember(user_key, retry_after, share)
                status = 429 if reason == "user_quota" else 503
                return Rejection(status, reason, max(1.0, retry_after))
        if unknown_token:
            # Each made-up token would otherwise get a fresh bucket of its own: charge the
            # caller's address as well (one more round trip, for bad tokens only).
            return self._charge_address(limits, environ, share)
        if site:
            # The site of a staff member's live session (never a name the client sent): one
            # more round trip for staff requests, which are few beside residents'.
            return self._charge_site(limits, site, share)
        return None

    def _send(self, commands: list[tuple[object, ...]]) -> list[Any]:
        """The replies to ``commands``, in one round trip: on one server, on the thread's own
        connection (:class:`ThreadConnections`); on a cluster, a pipeline, or the command alone
        when it is the only one (the usual case: redis-py's pipeline costs ~10 µs more).
        Not ``evalsha``: redis-py's cluster pipeline blocks that method (not the command)."""
        if self._direct is not None:
            return self._direct.execute(commands)
        if len(commands) == 1:
            return [self.redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        return list(pipe.execute())

    def _charge_address(
        self, limits: Limits, environ: dict[str, Any], share: float
    ) -> Rejection | None:
        rate = Rate(limits.user_rate, limits.user_burst)
        return self._charge(_user_key(None, environ), rate, share, 429, "user_quota")

    def _charge_site(self, limits: Limits, site: bytes | str, share: float) -> Rejection | None:
        """The budget of a sampling site, shared by its staff: sized for a busy site, it bounds
        what one site's logins can send (a leaked password, a runaway scanner)."""
        name = site.decode() if isinstance(site, bytes) else site
        rate = Rate(limits.site_rate, limits.site_burst)
        return self._charge(f"adm:{{site:{name}}}", rate, share, 503, "site_quota")

    def _charge(
        self, key: str, rate: Rate, share: float, status: int, reason: str
    ) -> Rejection | None:
        """One more bucket, in a round trip of its own (after the pipeline's answers)."""
        if rate.unlimited:
            return None
        (reply,) = self._send([("EVALSHA", self._script_sha, 1, key, *rate.script_args(share))])
        admitted, retry_after = decision(reply)
        return None if admitted else Rejection(status, reason, max(1.0, retry_after))

    def _buckets(
        self,
        limits: Limits,
        traffic: TrafficClass,
        channel: str,
        user_key: str,
        *,
        user: bool,
    ) -> list[tuple[str, Rate, str]]:
        """(key, rate, reason on refusal) of each bucket this request draws on; the user's
        only with ``user`` (otherwise the prefetch script draws on it)."""
        found = []
        if user:
            found.append((user_key, Rate(limits.user_rate, limits.user_burst), "user_quota"))
        channel_rate = limits.channel_rates.get(channel, 0.0)  # type: ignore[call-overload]
        if channel_rate > 0:
            key = f"adm:{{ch:{channel}:{self._shard()}}}"
            found.append((key, self._sharded(channel_rate), "channel_quota"))
        class_rate = limits.class_rates.get(traffic.value, 0.0)
        if class_rate > 0:
            key = f"adm:{{cls:{traffic.value}:{self._shard()}}}"
            found.append((key, self._sharded(class_rate), "class_quota"))
        if limits.global_rate > 0:
            key = f"adm:{{sys:{self._shard()}}}"
            found.append((key, self._sharded(limits.global_rate), "system_quota"))
        return [b for b in found if not b[1].unlimited]

    def _sharded(self, per_second: float) -> Rate:
        whole = Rate(per_second, per_second * self.settings.burst_seconds)
        return whole.split(self.settings.shards)

    def _shard(self) -> int:
        return random.randrange(self.settings.shards)


def _read_only_refuses(controls: Controls, traffic: TrafficClass, environ: dict[str, Any]) -> bool:
    """Read-only refuses every write that is not critical (login and sampling go on)."""
    return (
        controls.modes.read_only
        and traffic is not TrafficClass.CRITICAL
        and environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS
    )


def _share(traffic: TrafficClass, limits: Limits) -> float:
    if traffic is TrafficClass.CRITICAL:
        return 1.0
    if traffic is TrafficClass.NORMAL:
        return limits.share_normal
    return limits.share_sheddable


def _user_key(session_key: str | None, environ: dict[str, Any]) -> str:
    """Per session when there is one (same slot as the session), else per client network."""
    if session_key is not None:
        tag = session_key[session_key.index("{") : session_key.index("}") + 1]
        return f"adm:{tag}:user"
    return f"adm:{{ip:{client_network(environ.get('REMOTE_ADDR', '-'))}}}:user"
