"""When Redis hangs or dies under load: critical reads fail open, abusable paths fail closed.

The app runs on a private redis-server (``tests/support/redis_servers.py``) with 0.25 s
timeouts while four threads keep sending requests: the JWKS (critical, needs no Redis data),
a code re-issue (abusable) and a result lookup (critical, needs the session from Redis). Then
the server is stopped (SIGSTOP: every Redis call times out) or killed and restarted on the
same port (connections refused, then an empty Redis without the admission script).

Each request is labelled with the phase it started and ended in; only requests wholly inside
a phase are held to that phase's rules. No request may take 3 s, end in a 500, or hang.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import cycle
from types import TracebackType
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from miniapp_api.overload.gcra import GCRA_LUA
from tests.support.apps import MakeApp
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.redis_servers import RedisServer, redis_server
from tests.support.residents import MiniProgramUser, consented_quietly

TIMEOUT = 0.25  # REDIS SOCKET_TIMEOUT and CONNECT_TIMEOUT of these apps
REQUEST_BOUND = 3.0  # seconds; generous: most answers come at once, the slowest in ~2 timeouts
FAIL_OPEN_RATE = 5.0  # critical requests per second a worker admits without Redis
USER_RATE, USER_BURST = 2.0, 5
QUIET = "quiet"  # the load threads send nothing in this phase


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


@pytest.fixture
def redis_url(server: RedisServer) -> str:
    return server.url()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app(
        sections={"REDIS": {"SOCKET_TIMEOUT": TIMEOUT, "CONNECT_TIMEOUT": TIMEOUT}},
        USER_RATE=USER_RATE,
        USER_BURST=USER_BURST,
        FAIL_OPEN_RATE=FAIL_OPEN_RATE,
    )


@dataclass(frozen=True)
class Outcome:
    kind: str  # keys | reissue | results
    started: str  # the phase when the request was sent
    ended: str  # the phase when its answer came
    status: int
    body: Any
    retry_after: str | None
    seconds: float


class Load:
    """Threads sending requests until stopped, each answer recorded with its phase."""

    def __init__(self, app: Flask, token: str, resident_id: str, threads: int = 4) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}
        self.resident_id = resident_id
        self.phase = "before"
        self.outcomes: list[Outcome] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), name=f"load-{n}") for n in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in self._threads), "a load thread hangs"

    def enter(self, phase: str, seconds: float) -> float:
        """Switch to ``phase`` and let the load run for ``seconds``; returns the time spent."""
        started = time.monotonic()
        self.phase = phase
        time.sleep(seconds)
        return time.monotonic() - started

    def during(self, phase: str, kind: str) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.kind == kind and o.started == o.ended == phase]

    def _run(self, n: int) -> None:
        client = self.app.test_client()
        requests: dict[str, Callable[[str], TestResponse]] = {
            # A new client address each time: the JWKS never meets a per-user quota.
            "keys": lambda a: client.get("/api/v1/codes/keys", environ_base={"REMOTE_ADDR": a}),
            "reissue": lambda _: client.post(
                f"/api/v1/residents/{self.resident_id}/code", headers=self.headers
            ),
            "results": lambda _: client.get("/api/v1/results", headers=self.headers),
        }
        for i, kind in enumerate(cycle(["keys", "reissue", "keys", "results"])):
            if self._stop.is_set():
                return
            if self.phase == QUIET:
                time.sleep(0.01)
                continue
            phase, started = self.phase, time.monotonic()
            try:
                response = requests[kind](f"10.{n}.{i // 250 % 250}.{i % 250 + 1}")
            except BaseException as error:  # reported by the test, not lost in the thread
                with self._lock:
                    self.errors.append(error)
                continue
            outcome = outcome_of(kind, phase, self.phase, response, time.monotonic() - started)
            with self._lock:
                self.outcomes.append(outcome)
            time.sleep(0.005)


def outcome_of(
    kind: str, started: str, ended: str, response: TestResponse, seconds: float
) -> Outcome:
    body, retry_after = response.get_json(silent=True), response.headers.get("Retry-After")
    return Outcome(kind, started, ended, response.status_code, body, retry_after, seconds)


def assert_unavailable(outcome: Outcome) -> None:
    """The fail-closed contract: 503, temporarily_unavailable, Retry-After, alternatives."""
    assert outcome.status == 503, outcome
    assert outcome.body["code"] == "temporarily_unavailable", outcome
    assert outcome.body["detail"]["reason"] == "redis_unavailable", outcome
    assert outcome.retry_after is not None
    assert int(outcome.retry_after) >= 1
    kinds = {a["kind"] for a in outcome.body["detail"]["alternatives"]}
    assert {"saved_code", "h5_lookup", "push"} <= kinds, outcome


def assert_refused_closed(outcomes: list[Outcome]) -> None:
    """Every request refused with the contract: 503 for Redis, or the 429 the worker remembers.

    The load's user was over quota before Redis hung; the worker remembers that refusal until
    GCRA's retry time (admission/refusals.py), so some of its requests get that 429 again
    without asking Redis. Either way nothing gets through.
    """
    unavailable = [o for o in outcomes if o.status == 503]
    assert unavailable, outcomes
    for outcome in unavailable:
        assert_unavailable(outcome)
    for outcome in outcomes:
        if outcome.status != 503:
            assert outcome.status == 429, outcome
            assert outcome.body["detail"]["reason"] == "user_quota", outcome


def assert_nothing_hung_or_failed(load: Load) -> None:
    assert not load.errors, load.errors[:3]
    assert load.outcomes
    slowest = max(load.outcomes, key=lambda o: o.seconds)
    assert slowest.seconds < REQUEST_BOUND, slowest
    assert not [o for o in load.outcomes if o.status >= 500 and o.status != 503]


def logged_in(app: Flask, phone: EmulatorPhone) -> tuple[MiniProgramUser, str]:
    """A resident logged in with a declared profile, and their own resident id."""
    user = MiniProgramUser(app.test_client(), phone, "wechat")
    assert user.login(consent=False).status_code == 200
    consented_quietly(app, user)  # the quota leaves no room for three more calls
    declared = user.declare("张三丰", cn_id())
    assert declared.status_code == 200, declared.get_json()
    resident_id = user.me()["self"]["id"]
    assert isinstance(resident_id, str)
    return user, resident_id


def test_a_hung_redis_fails_open_for_critical_reads_and_closed_for_abusable_paths(
    app: Flask, phone: EmulatorPhone, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    checker, _ = logged_in(app, phone)  # its own session: the load's quota is not its
    loader, resident_id = logged_in(app, phone)
    assert checker.client.get("/api/v1/results", headers=checker.auth).status_code == 200

    with Load(app, loader.token or "", resident_id) as load:
        load.enter("before", 0.5)
        server.pause()  # then label: a request labelled "hung" never saw Redis answer
        hung_for = load.enter("hung", 2.5)
        # The load rests so the local bucket refills: this lookup is let through by the gate
        # (fail open), then its view cannot read the session.
        load.enter(QUIET, 2 / FAIL_OPEN_RATE)
        started = time.monotonic()
        response = checker.client.get("/api/v1/results", headers=checker.auth)
        lookup = outcome_of("results", QUIET, QUIET, response, time.monotonic() - started)
        load.phase = "resumed"  # label first: an answer after SIGCONT is not "hung"
        server.resume()
        assert eventually_ok(lambda: checker.client.get("/api/v1/results", headers=checker.auth))

    assert_nothing_hung_or_failed(load)
    # Critical and needing no Redis data: served from the worker's local bucket, and no more.
    keys = load.during("hung", "keys")
    served = [o for o in keys if o.status == 200]
    assert served, "the JWKS did not fail open"
    assert len(served) <= FAIL_OPEN_RATE * (1 + hung_for) + 1
    refused = [o for o in keys if o.status != 200]
    assert refused, "the local bucket let everything through"
    assert_refused_closed(refused)
    # Abusable: fails closed. Needing the session: 503 with the contract, not a 500.
    for kind in ("reissue", "results"):
        during = load.during("hung", kind)
        assert len(during) >= 3, (kind, len(during))
        assert_refused_closed(during)
    assert_unavailable(lookup)
    assert lookup.seconds < REQUEST_BOUND
    assert "redis unreachable in results.get_results" in caplog.text  # the view's 503, no 500
    # Back to normal after the hang: the load's own requests are answered by Redis again.
    assert {o.status for o in load.during("resumed", "keys")} <= {200, 429, 503}


def test_after_redis_is_killed_and_restarted_admission_and_quotas_work_again(
    app: Flask, phone: EmulatorPhone, server: RedisServer
) -> None:
    loader, resident_id = logged_in(app, phone)
    script = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()

    with Load(app, loader.token or "", resident_id) as load:
        load.enter("before", 0.5)
        server.kill()
        load.enter("killed", 1.5)
        load.phase = "restarted"
        server.start()  # same port, empty: no data, no sessions, no scripts
        through_redis = eventually_admitted_through_redis(app, server)
        burst = [jwks(app, "10.250.0.1") for _ in range(USER_BURST + 5)]

    assert_nothing_hung_or_failed(load)
    assert_refused_closed(load.during("killed", "reissue"))
    assert {o.status for o in load.during("killed", "keys")} <= {200, 429, 503}
    assert load.during("killed", "keys")
    assert through_redis
    with server.client() as check:
        assert check.script_exists(script) == [True]  # loaded again by the gate
    statuses = [r.status_code for r in burst]
    assert statuses[:USER_BURST] == [200] * USER_BURST
    assert set(statuses[USER_BURST:]) <= {200, 429}
    assert 429 in statuses[USER_BURST:]
    refused = burst[statuses.index(429)]
    assert refused.get_json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


def jwks(app: Flask, address: str) -> TestResponse:
    return app.test_client().get("/api/v1/codes/keys", environ_base={"REMOTE_ADDR": address})


def eventually_ok(send: Callable[[], TestResponse], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if send().status_code == 200:
            return True
        time.sleep(0.05)
    return False


def eventually_admitted_through_redis(app: Flask, server: RedisServer) -> bool:
    """Whether a request was soon admitted by the GCRA script (not by the local fall-back)."""
    deadline = time.monotonic() + 5.0
    with server.client() as check:
        for n in range(1, 1000):
            address = f"10.251.{n // 250}.{n % 250 + 1}"
            if jwks(app, address).status_code == 200 and check.exists(f"adm:{{ip:{address}}}:user"):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return False
