"""Taking over an ``Idempotency-Key`` claim on PostgreSQL: at once when its owner is gone (its
node killed, its database session ended), never while its owner is at work.

The owner stands for a node: a process of its own (:func:`node_main`) that runs the lab
service's upload on its own connection and stops inside the work's transaction, with the
batch's rows written but not committed, until the test tells it to go on or kills it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from miniapp_api.lab import idempotency, service
from miniapp_api.lab.models import LabRequest
from miniapp_api.lab.schemas import ResultBatchIn
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult
from miniapp_api.sampling.models import Lab
from miniapp_api.settings import LabSettings
from miniapp_api.wiring import wiring_of
from tests.conftest import REDIS_URL
from tests.support.clients import LabClient, iso_ago, result
from tests.support.factories import (
    Desk,
    LabKey,
    make_account,
    make_desk,
    make_lab,
    make_lab_request,
    make_residents,
    make_tube,
    new_session,
)

UPLOAD = "/api/v1/lab/results"
ROOT = Path(__file__).resolve().parents[3]
# How long a step of a node may take before the test fails (it should take milliseconds).
PATIENCE = 30.0


# --- the owner: a node of its own ------------------------------------------------------------


def node_main() -> None:
    """A node uploading ``body`` under ``key`` for the lab ``lab_pk``, claimed at ``now`` minus
    ``claimed_ago`` seconds (argv). Says ``at_work <backend pid>`` once its batch is written
    in the open transaction, waits for a line on stdin, then says how the upload ended."""
    url, lab_pk, key, body, claimed_ago = sys.argv[1:6]
    real_complete = idempotency.complete

    def complete_when_told(session: Session, *args: Any, **kwargs: Any) -> None:
        pid = session.scalar(text("SELECT pg_backend_pid()"))
        print("at_work", pid, flush=True)
        sys.stdin.readline()
        real_complete(session, *args, **kwargs)

    idempotency.complete = complete_when_told  # in this process only: it is the node
    engine = create_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            lab = session.get_one(Lab, int(lab_pk))
        try:
            answer = service.upload_results(
                session,
                lab,
                batch=ResultBatchIn.model_validate_json(body),
                request=service.IdempotentRequest(
                    key, idempotency.fingerprint("POST", UPLOAD, body.encode())
                ),
                readmodel=ResultReadModel(redis.Redis.from_url(REDIS_URL)),
                settings=LabSettings(),
                now=datetime.now(UTC) - timedelta(seconds=float(claimed_ago)),
            )
        except Exception as error:  # noqa: BLE001  the test reads how it ended
            print("failed", getattr(error, "code", type(error).__name__), flush=True)
        else:
            print("answered", answer.status, json.dumps(answer.body), flush=True)


class Node:
    """A running :func:`node_main` and what it said, line by line."""

    def __init__(self, app: Flask, lab: LabKey, key: str, body: bytes, claimed_ago: float) -> None:
        self._process = subprocess.Popen(  # noqa: S603  # our own argv, no shell
            [
                sys.executable,
                "-c",
                "from tests.integration.lab.test_claim_takeover import node_main; node_main()",
                wiring_of(app).db.url,
                str(lab.id),
                key,
                body.decode(),
                str(claimed_ago),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,))
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.strip())

    def said(self) -> list[str]:
        """The next line the node says (its words)."""
        try:
            return self._lines.get(timeout=PATIENCE).split(" ", 2)
        except queue.Empty:
            pytest.fail("the node said nothing")

    def at_work(self) -> int:
        """Wait until the node is inside its work's transaction; its backend's pid."""
        words = self.said()
        assert words[0] == "at_work", words
        return int(words[1])

    def go_on(self) -> list[str]:
        """Let the node commit (or fail); what it answered."""
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()
        words = self.said()
        assert self._process.wait(PATIENCE) == 0
        return words

    def kill(self) -> None:
        """SIGKILL, as a node dies: no rollback, no release; the kernel closes its sockets."""
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(PATIENCE)

    def end(self) -> None:
        """Kill the node if it still runs; close its pipes."""
        if self._process.poll() is None:
            self.kill()
        self._reader.join(PATIENCE)  # its stdout is at its end
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.end()


# --- helpers --------------------------------------------------------------------------------


def a_batch(app: Flask, desk: Desk, tubes: int = 2) -> tuple[list[str], bytes]:
    """Tubes with one account holding each person, and the body of their upload."""
    numbers = []
    for person in make_residents(app, tubes):
        make_account(app, [(person, Relation.SELF)])
        numbers.append(make_tube(app, desk, [person]))
    # Tested an hour ago: within the tolerance of a claim made 10 minutes ago too.
    body = json.dumps({"results": [result(t, tested_at=iso_ago(60)) for t in numbers]})
    return numbers, body.encode()


def stored(app: Flask, key: str) -> tuple[int, int, int, list[str]]:
    """Tube results, person results, outbox rows, and the statuses of ``key``'s claims."""
    with new_session(app) as session:
        counts = [
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (TubeResult, PersonResult, OutboxMessage)
        ]
        claims = session.scalars(
            select(LabRequest.status).where(LabRequest.idempotency_key == key)
        ).all()
    return counts[0], counts[1], counts[2], list(claims)


def wait_until_gone(app: Flask, backend_pid: int) -> None:
    """Until PostgreSQL has ended the backend (it notices a closed socket within moments)."""
    deadline = time.monotonic() + PATIENCE
    with wiring_of(app).db.engine.connect() as connection:
        while connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend_pid}
        ):
            assert time.monotonic() < deadline, "PostgreSQL kept the dead node's session"
            time.sleep(0.02)
            connection.rollback()  # a fresh snapshot of the statistics


def send(lab_client: LabClient, body: bytes, key: str) -> TestResponse:
    return lab_client.send(UPLOAD, body, idempotency_key=key)


def send_beside(lab_client: LabClient, body: bytes, key: str) -> TestResponse:
    """:func:`send` while a node is at work: a request that would wait for the node (a second
    application of the batch waits on its rows) fails the test instead of hanging it."""
    answers: list[TestResponse] = []
    sender = threading.Thread(target=lambda: answers.append(send(lab_client, body, key)))
    sender.start()
    sender.join(PATIENCE)
    assert answers, "the duplicate waited for the node at work"
    return answers[0]


# --- the tests ------------------------------------------------------------------------------


def test_a_claim_whose_node_was_killed_at_work_is_taken_over_at_once_and_applied_once(
    app: Flask, lab_client: LabClient, lab: LabKey, desk: Desk, nodes: list[Node]
) -> None:
    tubes, body = a_batch(app, desk)
    node = Node(app, lab, "batch-killed", body, claimed_ago=0)
    nodes.append(node)
    backend = node.at_work()
    node.kill()
    wait_until_gone(app, backend)
    assert stored(app, "batch-killed") == (0, 0, 0, ["in_flight"])  # left behind, nothing else

    retry = send(lab_client, body, "batch-killed")

    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["accepted"] == len(tubes)
    assert stored(app, "batch-killed") == (2, 2, 2, ["done"])
    again = send(lab_client, body, "batch-killed")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == retry.get_json()
    assert stored(app, "batch-killed") == (2, 2, 2, ["done"])


def test_a_claim_whose_node_is_at_work_is_told_409_however_old_and_applied_once(
    app: Flask, lab_client: LabClient, lab: LabKey, desk: Desk, nodes: list[Node]
) -> None:
    tubes, body = a_batch(app, desk)
    # Claimed 10 minutes ago: well past ABANDONED_AFTER, which PostgreSQL does not go by.
    node = Node(app, lab, "batch-alive", body, claimed_ago=600)
    nodes.append(node)
    node.at_work()

    duplicate = send_beside(lab_client, body, "batch-alive")

    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "request_in_flight"
    assert duplicate.headers["Retry-After"] == "2"
    assert stored(app, "batch-alive") == (0, 0, 0, ["in_flight"])
    words = node.go_on()
    assert words[:2] == ["answered", "200"], words
    first = json.loads(words[2])
    assert first["accepted"] == len(tubes)
    retry = send(lab_client, body, "batch-alive")
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first
    assert stored(app, "batch-alive") == (2, 2, 2, ["done"])


def test_an_owner_whose_database_session_was_ended_undoes_nothing_of_the_retry_that_took_over(
    app: Flask,
    lab_client: LabClient,
    lab: LabKey,
    desk: Desk,
    nodes: list[Node],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The node lives on but PostgreSQL ended its session (as a restart does): a retry takes
    the claim over; the node, failing when it goes on while the retry is still at work,
    releases only its own claim, never the retry's."""
    tubes, body = a_batch(app, desk)
    node = Node(app, lab, "batch-cut", body, claimed_ago=0)
    nodes.append(node)
    backend = node.at_work()
    with wiring_of(app).db.engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    wait_until_gone(app, backend)
    retry_at_work, retry_go_on = threading.Event(), threading.Event()
    real_complete = idempotency.complete

    def complete_when_told(*args: Any, **kwargs: Any) -> None:
        retry_at_work.set()
        assert retry_go_on.wait(PATIENCE)
        real_complete(*args, **kwargs)

    monkeypatch.setattr("miniapp_api.lab.idempotency.complete", complete_when_told)
    answers: list[TestResponse] = []
    retry = threading.Thread(target=lambda: answers.append(send(lab_client, body, "batch-cut")))
    retry.start()
    try:
        assert retry_at_work.wait(PATIENCE)
        words = node.go_on()  # fails on its ended session, then releases its claim
    finally:
        retry_go_on.set()
        retry.join(PATIENCE)

    assert words[0] == "failed", words
    assert answers[0].status_code == 200, answers[0].get_json()
    assert answers[0].get_json()["accepted"] == len(tubes)
    assert stored(app, "batch-cut") == (2, 2, 2, ["done"])
    monkeypatch.undo()
    again = send(lab_client, body, "batch-cut")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == answers[0].get_json()


def test_an_owner_between_its_claim_and_its_work_loses_the_claim_to_a_retry_and_applies_nothing(
    app: Flask, lab_client: LabClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry that comes after the claim's commit but before the work's first statement finds
    no lock held: it takes the claim over; the owner then finds its claim gone and answers 409,
    and the batch is applied once, by the retry."""
    tubes, body = a_batch(app, desk)
    claimed, go_on = threading.Event(), threading.Event()
    real_claim = idempotency.claim

    def claim_then_pause(*args: Any, **kwargs: Any) -> Any:
        owned = real_claim(*args, **kwargs)
        if threading.current_thread().name == "owner":
            claimed.set()
            assert go_on.wait(PATIENCE)
        return owned

    monkeypatch.setattr("miniapp_api.lab.idempotency.claim", claim_then_pause)
    answers: dict[str, TestResponse] = {}

    def send_as_owner() -> None:
        answers["owner"] = send(LabClient(app.test_client(), lab_client.key), body, "batch-gap")

    owner = threading.Thread(target=send_as_owner, name="owner")
    owner.start()
    try:
        assert claimed.wait(PATIENCE)
        answers["retry"] = send(lab_client, body, "batch-gap")
    finally:
        go_on.set()
        owner.join(PATIENCE)

    assert answers["retry"].status_code == 200, answers["retry"].get_json()
    assert answers["retry"].get_json()["accepted"] == len(tubes)
    assert answers["owner"].status_code == 409
    assert answers["owner"].get_json()["code"] == "request_in_flight"
    assert stored(app, "batch-gap") == (2, 2, 2, ["done"])
    again = send(lab_client, body, "batch-gap")
    assert again.get_json() == answers["retry"].get_json()


def test_on_sqlite_a_claim_is_taken_over_once_it_is_abandoned_after_old(
    embedded_app: Flask,
) -> None:
    """SQLite has no advisory locks: there a claim's age decides (``ABANDONED_AFTER``)."""
    lab = make_lab(embedded_app)
    lab_client = LabClient(embedded_app.test_client(), lab)
    _, body = a_batch(embedded_app, make_desk(embedded_app, lab))
    make_lab_request(embedded_app, lab, body, key="young", created_at=datetime.now(UTC))
    old = datetime.now(UTC) - idempotency.ABANDONED_AFTER - timedelta(seconds=1)
    make_lab_request(embedded_app, lab, body, key="old", created_at=old)

    young = send(lab_client, body, "young")
    assert young.status_code == 409
    assert young.get_json()["code"] == "request_in_flight"
    taken_over = send(lab_client, body, "old")
    assert taken_over.status_code == 200, taken_over.get_json()
    assert taken_over.get_json()["accepted"] == 2
    assert stored(embedded_app, "old") == (2, 2, 2, ["done"])
