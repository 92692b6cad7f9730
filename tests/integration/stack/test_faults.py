"""Faults through the production shape: HAProxy, two gunicorn nodes, PostgreSQL and Redis as
separate processes (`miniapp stack`), with clients sending over real HTTP to HAProxy.

The clients behave as the real ones: residents look up their results with a session token; a
lab uploads batches of results, each signed afresh (new timestamp and nonce) on every attempt
and resent with the same ``Idempotency-Key`` and body after a 5xx, a 409 ``request_in_flight``
or a broken connection, as the lab integration guide asks. Each test says what it proves; none
asserts how fast anything is. Every batch is checked in the stack's database afterwards: an
acknowledged (2xx) batch has all its rows exactly once, any other batch all or none of them.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from miniapp_api.lab.models import LabRequest
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import PersonResult, TubeResult
from miniapp_api.sampling.models import Sampling, Tube
from miniapp_api.stack.lifecycle import running
from miniapp_api.stack.processes import group_members
from tests.integration.stack.conftest import (
    NODES,
    MakeStack,
    Stack,
    answered_in_a_row,
    authorization,
    login,
    stack_app,
    up,
)
from tests.support.clients import iso_ago, lab_headers, result
from tests.support.factories import (
    LabKey,
    bearer,
    make_account,
    make_desk,
    make_lab,
    make_resident,
    make_tubes,
    new_session,
)
from tests.support.postgres_servers import PostgresServer, postgres_server
from tests.support.redis_servers import RedisServer

UPLOAD = "/api/v1/lab/results"
LOOKUP = "/api/v1/results"
KEYS = "/api/v1/codes/keys"  # the JWKS: critical, needs no session
# A client's patience for one request; nothing here should come near it.
REQUEST_TIMEOUT = 30
EVERY_PROGRAM = {"haproxy", *NODES, "worker", "emulator"}


# --- what the clients sent and got ------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One HTTP request and its answer (``status`` None: no answer, the connection broke)."""

    kind: str  # upload | lookup | keys
    started: float  # time.monotonic()
    ended: float
    status: int | None
    body: Any  # the JSON answer, if it was JSON
    retry_after: str | None

    @property
    def failed(self) -> bool:
        """A server error or no answer at all: what a fault may cause, never what it should."""
        return self.status is None or self.status >= 500


class Journal:
    """Every attempt of every client thread, in the order they ended."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()

    def send(self, http: requests.Session, kind: str, method: str, url: str, **kw: Any) -> Attempt:
        started = time.monotonic()
        try:
            response = http.request(method, url, timeout=REQUEST_TIMEOUT, **kw)
        except requests.RequestException:  # refused, reset, or cut off mid-answer
            attempt = Attempt(kind, started, time.monotonic(), None, None, None)
        else:
            try:
                body = response.json()
            except ValueError:  # HAProxy's own 502 page is HTML
                body = None
            retry = response.headers.get("Retry-After")
            attempt = Attempt(kind, started, time.monotonic(), response.status_code, body, retry)
        with self._lock:
            self.attempts.append(attempt)
        return attempt

    def of(self, *kinds: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.kind in kinds]


_TESTED_AT = iso_ago(60)  # when the lab tested every tube: after make_tubes sampled them


@dataclass
class Batch:
    """One lab upload: its tubes, its body and key (both fixed for every retry), its fate."""

    tubes: list[str]
    key: str = field(default_factory=lambda: secrets.token_hex(12))
    sent: bool = False
    acknowledged: dict[str, Any] | None = None  # the 2xx answer the lab got

    @property
    def body(self) -> bytes:
        return json.dumps(
            {"results": [result(t, tested_at=_TESTED_AT) for t in self.tubes]}
        ).encode()


def upload(
    http: requests.Session,
    stack: Stack,
    lab: LabKey,
    batch: Batch,
    journal: Journal,
    *,
    patience: float,
) -> None:
    """Send ``batch`` as a lab's client does: until a 2xx, retrying 5xx, 409 in flight and
    broken connections with the same key and body for up to ``patience`` seconds."""
    body = batch.body
    batch.sent = True
    give_up = time.monotonic() + patience
    while True:
        headers = lab_headers(lab, UPLOAD, body, idempotency_key=batch.key)
        headers["Content-Type"] = "application/json"
        attempt = journal.send(
            http, "upload", "POST", stack.edge + UPLOAD, data=body, headers=headers
        )
        if attempt.status is not None and 200 <= attempt.status < 300:
            batch.acknowledged = attempt.body
            return
        retry = attempt.failed or (
            attempt.status == 409 and (attempt.body or {}).get("code") == "request_in_flight"
        )
        assert retry, f"a lab upload was refused: {attempt.status} {attempt.body}"
        if time.monotonic() > give_up:
            return
        # Retry-After, capped so that the test stays short (a real lab waits all of it).
        time.sleep(min(float(attempt.retry_after or 0.2), 0.5))


class Load:
    """Client threads, each running its job over and over until stopped (or the job says it
    has nothing left to do by returning False)."""

    def __init__(self, jobs: list[Callable[[requests.Session], bool]]) -> None:
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(job,), name=f"client-{n}")
            for n, job in enumerate(jobs)
        ]

    def _run(self, job: Callable[[requests.Session], bool]) -> None:
        with requests.Session() as http:
            try:
                while not self._stop.is_set() and job(http):
                    pass
            except BaseException as error:  # noqa: BLE001  reported by the test
                self.errors.append(error)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def wait(self, timeout: float) -> None:
        """Until every job is done (without stopping them)."""
        for thread in self._threads:
            thread.join(timeout=timeout)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a client thread hangs"


def lab_job(
    stack: Stack, lab: LabKey, batches: queue.Queue[Batch], journal: Journal, *, patience: float
) -> Callable[[requests.Session], bool]:
    def send_next(http: requests.Session) -> bool:
        try:
            batch = batches.get_nowait()
        except queue.Empty:
            return False
        upload(http, stack, lab, batch, journal, patience=patience)
        time.sleep(0.1)  # a lab sends as its plates finish, not back to back
        return True

    return send_next


def get_job(
    stack: Stack, kind: str, path: str, headers: dict[str, str], journal: Journal
) -> Callable[[requests.Session], bool]:
    def send(http: requests.Session) -> bool:
        journal.send(http, kind, "GET", stack.edge + path, headers=headers)
        time.sleep(0.02)
        return True

    return send


# --- what the database holds --------------------------------------------------------------


def stored(app: Flask, batch: Batch) -> tuple[int, int, str | None]:
    """The batch's tube results, person results and the status of its idempotency key."""
    with new_session(app) as session:
        tubes = session.scalar(
            select(func.count())
            .select_from(TubeResult)
            .join(Tube, Tube.id == TubeResult.tube_id)
            .where(Tube.tube_no.in_(batch.tubes))
        )
        people = session.scalar(
            select(func.count())
            .select_from(PersonResult)
            .join(Sampling, Sampling.id == PersonResult.sampling_id)
            .join(Tube, Tube.id == Sampling.tube_id)
            .where(Tube.tube_no.in_(batch.tubes))
        )
        key = session.scalar(
            select(LabRequest.status).where(LabRequest.idempotency_key == batch.key)
        )
    return tubes or 0, people or 0, key


def assert_each_batch_applied_once_or_not_at_all(app: Flask, batches: list[Batch]) -> None:
    """An acknowledged batch: every tube's result and its person's result exactly once, and
    the key done. Any other batch: all of that or nothing (never half a batch)."""
    for batch in batches:
        size = len(batch.tubes)
        tubes, people, key = stored(app, batch)
        if batch.acknowledged is not None:
            assert batch.acknowledged["accepted"] == size, batch.acknowledged
            assert (tubes, people, key) == (size, size, "done"), batch.key
        else:
            assert (tubes, people) in {(0, 0), (size, size)}, (batch.key, tubes, people, key)


def assert_contract(attempt: Attempt) -> None:
    """A 503 in the common error shape with what works instead and a Retry-After."""
    assert attempt.status == 503, attempt
    assert set(attempt.body or {}) == {"code", "message", "detail"}, attempt
    assert attempt.body["detail"]["alternatives"], attempt
    assert int(attempt.retry_after or 0) >= 1, attempt


@dataclass(frozen=True)
class World:
    """Rows on the stack's database: a lab with its tubes in batches, logged-in residents."""

    lab: LabKey
    batches: list[Batch]
    residents: list[dict[str, str]]  # their Authorization headers

    def queued(self) -> queue.Queue[Batch]:
        waiting: queue.Queue[Batch] = queue.Queue()
        for batch in self.batches:
            waiting.put(batch)
        return waiting


def make_world(app: Flask, *, tubes: int, per_batch: int, residents: int = 0) -> World:
    lab = make_lab(app)
    numbers = make_tubes(app, make_desk(app, lab), tubes)
    batches = [Batch(numbers[i : i + per_batch]) for i in range(0, tubes, per_batch)]
    sessions = [
        bearer(app, make_account(app, [(make_resident(app), Relation.SELF)]))
        for _ in range(residents)
    ]
    return World(lab, batches, sessions)


def node_down(stack: Stack, node: str, within: float) -> float | None:
    """The moment HAProxy's stats first show ``node`` DOWN (None: not within ``within`` s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if stack.servers()[node]["status"].startswith("DOWN"):
            return time.monotonic()
        time.sleep(0.05)
    return None


def health_check_window(stack: Stack) -> float:
    """How long HAProxy may take to mark a dead node down: ``inter`` x ``fall`` of the
    rendered configuration, plus one interval for the check under way."""
    config = (stack.directory / "edge" / "haproxy.cfg").read_text()
    line = next(ln.split() for ln in config.splitlines() if ln.strip().startswith("default-server"))
    inter = line[line.index("inter") + 1]
    seconds = float(inter[:-2]) / 1000 if inter.endswith("ms") else float(inter.rstrip("s"))
    return seconds * (int(line[line.index("fall") + 1]) + 1)


# --- the faults -----------------------------------------------------------------------------


def test_killing_a_node_under_load_moves_requests_to_the_other_and_loses_no_acknowledged_upload(
    stack: Stack,
) -> None:
    """SIGKILL of one node's gunicorn (master and workers) while residents look up results and
    a lab uploads: the only failures are requests that were in flight on that node (none
    starts after HAProxy marked it down), requests then succeed on the other node, and every
    upload acknowledged to the lab is in the database exactly once; a batch cut off on the
    killed node is all there or not at all, never half."""
    up(stack)
    journal = Journal()
    with stack_app(stack) as app:
        world = make_world(app, tubes=1000, per_batch=5, residents=3)
        batches = world.queued()
        jobs = [get_job(stack, "lookup", LOOKUP, h, journal) for h in world.residents]
        jobs += [lab_job(stack, world.lab, batches, journal, patience=5) for _ in range(2)]
        with Load(jobs) as load:
            time.sleep(2)
            killed_at = time.monotonic()
            os.killpg(stack.pids()["node1"], signal.SIGKILL)
            down_at = node_down(stack, "node1", within=health_check_window(stack) + 5)
            assert down_at is not None, "HAProxy never marked the killed node down"
            time.sleep(3)  # the other node serves alone
        assert not load.errors, load.errors

        attempts = journal.of("lookup", "upload")
        failed = [a for a in attempts if a.failed]
        assert not [a for a in failed if a.ended < killed_at], "a failure before the kill"
        assert not [a for a in failed if a.started > down_at], "a failure after marked down"
        after = [a for a in attempts if a.started > down_at]
        assert {a.status for a in after if a.kind == "lookup"} == {200}
        assert any(a.kind == "upload" and a.status == 200 for a in after)
        sent = [batch for batch in world.batches if batch.sent]
        assert sum(batch.acknowledged is not None for batch in sent) >= 5
        assert_each_batch_applied_once_or_not_at_all(app, sent)


def test_sigterm_during_a_large_upload_completes_it_or_its_retry_never_half(
    stack: Stack,
) -> None:
    """SIGTERM (gunicorn's graceful shutdown) to the node that is ingesting a batch of 1,000
    tubes: the lab ends with a 2xx (the node finishes the upload, or the retry with the same
    key completes or replays it), all 1,000 results are stored exactly once, and the node
    then exits."""
    up(stack)
    journal = Journal()
    with stack_app(stack) as app:
        world = make_world(app, tubes=1000, per_batch=1000)
        (batch,) = world.batches
        sender = threading.Thread(
            target=lambda: upload(requests.Session(), stack, world.lab, batch, journal, patience=60)
        )
        sender.start()
        try:
            claimed = _wait_for_claim(app, batch, sender)
            busy = [name for name, row in stack.servers().items() if int(row["scur"] or 0) > 0]
            assert claimed, "the upload finished before it was seen under way: enlarge it"
            assert len(busy) == 1, stack.servers()
            terminated = stack.pids()[busy[0]]
            os.kill(terminated, signal.SIGTERM)  # the gunicorn master: graceful shutdown
        finally:
            sender.join(timeout=120)
        assert not sender.is_alive()

        assert batch.acknowledged is not None, journal.of("upload")
        assert_each_batch_applied_once_or_not_at_all(app, [batch])
        assert not [a for a in journal.of("upload") if a.status not in (200, None, 409, 502, 503)]
        deadline = time.monotonic() + 40  # gunicorn's graceful_timeout is 20 s
        while group_members(terminated) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_members(terminated), "the node did not shut down"


def _wait_for_claim(app: Flask, batch: Batch, sender: threading.Thread) -> bool:
    """Whether the batch's key was seen claimed (work under way) while the upload ran."""
    while sender.is_alive():
        with new_session(app) as session:
            status = session.scalar(
                select(LabRequest.status).where(LabRequest.idempotency_key == batch.key)
            )
        if status == "in_flight":
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def test_restarting_postgresql_during_uploads_answers_503_with_the_contract_and_retries_succeed(
    postgres: PostgresServer, make_stack: MakeStack
) -> None:
    """PostgreSQL (a private cluster) stopped with a fast shutdown and started again while a
    lab uploads: the lab gets 503 in the overload contract (never a 500), its retries with the
    same keys succeed, each batch is stored exactly once, and every program of the stack (the
    push worker too) is still running.

    A batch whose key was claimed before the shutdown cannot have its claim released while the
    database is away, but its owner's lock ended with the owner's session: the lab's first retry
    once the database is back takes the claim over and completes the batch, never told 409
    ``request_in_flight`` (no one is at work on it)."""
    stack = make_stack(database_server=postgres.url("postgres"))
    up(stack)
    journal = Journal()
    lab_threads = 3
    with stack_app(stack) as app:
        world = make_world(app, tubes=900, per_batch=30)
        batches = world.queued()
        jobs = [lab_job(stack, world.lab, batches, journal, patience=8) for _ in range(lab_threads)]
        with Load(jobs) as load:
            time.sleep(1)
            postgres.stop("fast")  # open transactions rolled back, every session ended
            time.sleep(3)
            postgres.start()
            load.wait(timeout=120)
        assert not load.errors, load.errors

        uploads = journal.of("upload")
        assert not [a for a in uploads if a.status == 409], "a retry waited for a dead claim"
        refused = [a for a in uploads if a.status != 200]
        assert refused, "the restart went unnoticed: no upload was refused"
        for attempt in refused:
            assert_contract(attempt)
        assert_each_batch_applied_once_or_not_at_all(app, world.batches)

        # A lab that ran out of patience while the database was away sends its batch again,
        # later; the claim it left (if any) is taken over by the first attempt.
        held = [batch for batch in world.batches if batch.acknowledged is None]
        assert len(held) <= lab_threads  # at most the batch each lab had under way
        assert {stored(app, batch)[:2] for batch in held} <= {(0, 0)}
        with requests.Session() as http:
            for batch in held:
                upload(http, stack, world.lab, batch, journal, patience=0)
        assert all(batch.acknowledged is not None for batch in world.batches)
        assert not [a for a in journal.of("upload") if a.status == 409]
        assert_each_batch_applied_once_or_not_at_all(app, world.batches)
    assert set(running(stack.directory)) == EVERY_PROGRAM  # the push worker too


def test_restarting_redis_during_lookups_follows_the_failure_policy_then_recovers(
    private_redis: RedisServer, make_stack: MakeStack
) -> None:
    """Redis (a private server) killed and started again, empty, while residents look up
    results and clients read the code keys: meanwhile every answer is a 200 or a 503 in the
    overload contract (README, "If Redis is unreachable"; never a 500, a 502 or a broken
    connection, and no one is logged out while Redis is away); afterwards the JWKS and a fresh
    login and lookup through HAProxy work again (sessions in the emptied Redis are gone: 401),
    and every program of the stack (the push worker too) is still running."""
    stack = make_stack(redis_url=private_redis.url())
    up(stack)
    journal = Journal()
    with stack_app(stack) as app:
        world = make_world(app, tubes=0, per_batch=1, residents=3)
        jobs = [get_job(stack, "lookup", LOOKUP, h, journal) for h in world.residents]
        jobs.append(get_job(stack, "keys", KEYS, {}, journal))
        with Load(jobs) as load:
            time.sleep(1)
            killed_at = time.monotonic()
            private_redis.kill()
            time.sleep(2)
            restarting_at = time.monotonic()
            private_redis.start()  # same port, empty: no sessions, no scripts
            recovered = _fresh_login_and_lookup(stack, within=30)
            time.sleep(1)
        assert not load.errors, load.errors

    attempts = journal.of("lookup", "keys")
    assert {a.status for a in attempts if a.ended < killed_at} == {200}
    assert not [a for a in attempts if a.status not in (200, 401, 503)], "500, 502 or no answer"
    assert any(a.status == 503 for a in attempts), "the outage went unnoticed"
    for attempt in attempts:
        if attempt.status == 503:
            assert_contract(attempt)
    assert not [a for a in attempts if a.status == 401 and a.ended < restarting_at]
    assert recovered, "no fresh login and lookup through HAProxy after Redis came back"
    # Each worker's pooled connections to the old Redis fail once on first use afterwards (the
    # breaker opens for a second each time), so the JWKS may still meet a 503 for a moment:
    # what must hold is that it is served again, steadily, soon.
    with requests.Session() as http:
        keys_back = answered_in_a_row(http, stack.edge + KEYS, {}, count=5, within=15)
    assert keys_back, "the JWKS did not come back"
    assert set(running(stack.directory)) == EVERY_PROGRAM  # the push worker too


def _fresh_login_and_lookup(stack: Stack, *, within: float) -> bool:
    """Whether a new resident soon logs in through HAProxy and reads their results."""
    deadline = time.monotonic() + within
    with requests.Session() as http:
        while time.monotonic() < deadline:
            token = login(stack, http)
            if token is not None:
                lookup = http.get(stack.edge + LOOKUP, headers=authorization(token), timeout=10)
                if lookup.status_code == 200:
                    return True
            time.sleep(0.3)
    return False
