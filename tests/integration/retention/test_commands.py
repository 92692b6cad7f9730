"""``miniapp retention purge``, the worker's schedule, its Redis lock, and the indexes every
batch statement needs (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
import pytest
import redis
from flask import Flask
from sqlalchemy import event, func, select

from miniapp_api.cli import main
from miniapp_api.db import utcnow
from miniapp_api.results.models import OutboxMessage
from miniapp_api.retention import schedule
from miniapp_api.retention.commands import with_purge_schedule
from miniapp_api.retention.purge import Kind
from miniapp_api.wiring import wiring_of
from tests.integration.retention.conftest import PERIODS, World
from tests.integration.retention.test_audit_purge import OLD, append
from tests.support.clients import LabClient
from tests.support.factories import committed, make_desk, make_lab


def old_outbox_rows(app: Flask, count: int, *, days: int = 30) -> None:
    with committed(app) as session:
        for n in range(count):
            session.add(
                OutboxMessage(
                    person_result_id=n + 1,
                    account_id=1,
                    version=0,
                    status="sent",
                    created_at=utcnow() - timedelta(days=days),
                )
            )


def outbox_count(app: Flask) -> int:
    with committed(app) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def test_purge_prints_per_kind_dry_run_deletes_nothing_only_picks_kinds(app: Flask) -> None:
    old_outbox_rows(app, 3)
    append(app, "7", OLD * 20)  # past the default three years
    runner = app.test_cli_runner()

    dry = runner.invoke(main, ["retention", "purge", "--dry-run"])
    only = runner.invoke(main, ["retention", "purge", "--only", "outbox"])
    rest = runner.invoke(main, ["retention", "purge"])

    assert dry.exit_code == 0, dry.output
    assert "outbox: would delete outbox=3" in dry.output
    assert "audit: would delete audit_events=1" in dry.output
    assert only.exit_code == 0, only.output
    assert only.output.splitlines()[0] == "outbox: outbox=3"
    assert "audit" not in only.output
    assert "results: nothing" in rest.output
    assert "audit: audit_events=1" in rest.output
    assert outbox_count(app) == 0


def test_only_one_purge_runs_at_a_time(app: Flask, redis_client: redis.Redis) -> None:
    old_outbox_rows(app, 2)
    redis_client.set(schedule.LOCK_KEY, "another node")

    held = app.test_cli_runner().invoke(main, ["retention", "purge"])
    skipped = schedule.PurgeSchedule(wiring_of(app).redis, _job(app), 60).run_once(
        threading.Event()
    )
    redis_client.delete(schedule.LOCK_KEY)
    ran = schedule.PurgeSchedule(wiring_of(app).redis, _job(app), 60).run_once(threading.Event())

    assert held.exit_code == 1
    assert "another retention purge is running" in held.output
    assert skipped is None
    assert ran is not None
    assert ran.deleted[Kind.OUTBOX]["outbox"] == 2
    assert redis_client.get(schedule.LOCK_KEY) is None  # released


def _job(app: Flask) -> Any:
    from miniapp_api.retention.purge import Purge

    wire = wiring_of(app)
    return lambda: Purge(wire.db, wire.readmodel, PERIODS, utcnow())


def test_the_worker_runs_the_purge_on_its_schedule_and_stops_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_outbox_rows(app, 2)
    monkeypatch.setattr(schedule, "FIRST_RUN_SPREAD_SECONDS", 0.0)  # the first run at once
    seen: dict[str, int] = {}

    @click.command("worker")
    @click.option("--once", is_flag=True)
    def fake_worker(once: bool) -> None:  # stands for the push worker's loop
        deadline = time.monotonic() + 10
        while outbox_count(app) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["left"] = outbox_count(app)

    result = app.test_cli_runner().invoke(with_purge_schedule(fake_worker), [])

    assert result.exit_code == 0, result.output
    assert seen == {"left": 0}
    assert not any(t.name == "retention-purge" for t in threading.enumerate())


def test_the_schedule_is_off_at_zero_minutes(app: Flask) -> None:
    off = schedule.PurgeSchedule(wiring_of(app).redis, _job(app), 0)
    assert off.start(threading.Event()) is None


# --- every statement of a batch walks an index (PostgreSQL) --------------------------------


@contextmanager
def statements_with_parameters(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    engine = wiring_of(app).db.engine

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_no_batch_statement_needs_a_sequential_scan(app: Flask) -> None:
    lab = make_lab(app)
    world = World(app, make_desk(app, lab), LabClient(app.test_client(), lab))
    old, lost = world.tube(people=2, amended=True), world.tube(tested=False)
    world.age(old, days=40)
    world.age(lost, days=40)
    old_outbox_rows(app, 2)
    append(app, "7", OLD, timedelta(0))

    with statements_with_parameters(app) as seen:
        world.purge()
    batch = [(s, p) for s, p in seen if s.lstrip().upper().startswith(("SELECT", "DELETE"))]
    assert len(batch) > 10

    # The tables are tiny: forbid sequential scans, and any statement that still plans one
    # has no index for its predicate.
    connection = wiring_of(app).db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SET enable_seqscan = off")
        for statement, parameters in batch:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, f"{statement}\n{plan}"
    finally:
        connection.rollback()
        connection.close()
