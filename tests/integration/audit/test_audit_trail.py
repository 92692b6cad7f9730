"""The audit trail: what lands in it, the hash chain, the database refusing edits, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from channels.emulator import RunningEmulator
from miniapp_api.audit import service
from miniapp_api.audit.models import AuditEvent
from miniapp_api.audit.service import ActorKind
from miniapp_api.cli import main
from miniapp_api.db import utcnow
from miniapp_api.migrate import downgrade, upgrade
from miniapp_api.wiring import wiring_of
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import app_factory
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import committed, make_person, make_round, make_site, make_staff
from tests.support.operators import new_operator, with_operator

OPERATOR = "audra"


def events(app: Flask) -> list[AuditEvent]:
    with committed(app) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def append(session: Session, n: int, *, actor: str = "7") -> None:
    """``n`` events, each in its own committed transaction."""
    for i in range(n):
        with session.begin():
            service.record(
                session,
                actor_kind=ActorKind.STAFF,
                actor=actor,
                action="test.append",
                object=f"obj:{i}",
                request_id="r" * 32,
                at=utcnow(),
            )


def verify(app: Flask) -> service.ChainReport:
    with wiring_of(app).db.session() as session:
        return service.verify(session, batch_size=2)  # several batches on a short chain


def behind_the_trigger(app: Flask, statement: str, **params: object) -> None:
    """Run ``statement`` with the table's triggers off: what a superuser could do."""
    with committed(app) as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(text(statement), params)


# --- what lands in the trail ----------------------------------------------------------------


@pytest.fixture
def operator_client(
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
) -> Iterator[tuple[Flask, FlaskClient, dict[str, str]]]:
    token, token_hash = new_operator(OPERATOR)
    base = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    with app_factory(with_operator(base, OPERATOR, token_hash)) as make:
        app = make(CONTROLS_REFRESH_SECONDS=0.0)
        yield app, app.test_client(), {"Authorization": f"Bearer {token}"}


def test_an_operators_change_of_limits_is_one_event_naming_the_operator(
    operator_client: tuple[Flask, FlaskClient, dict[str, str]],
) -> None:
    app, client, auth = operator_client
    current = client.get("/api/v1/ops/limits", headers=auth).get_json()
    body = {"limits": {**current["limits"], "global_rate": 321.0}, "modes": {"cache_only": True}}

    response = client.put("/api/v1/ops/limits", json=body, headers=auth)

    assert response.status_code == 200
    [event] = events(app)
    assert (event.actor_kind, event.actor) == ("operator", OPERATOR)
    assert (event.action, event.object) == ("controls.change", "controls:1")
    assert event.request_id == response.headers["X-Request-ID"]
    assert event.prev_hash == service.GENESIS


def test_a_refused_change_leaves_no_event(
    operator_client: tuple[Flask, FlaskClient, dict[str, str]],
) -> None:
    app, client, auth = operator_client
    current = client.get("/api/v1/ops/limits", headers=auth).get_json()
    stale = {"limits": current["limits"], "modes": {}, "version": 99}

    assert client.put("/api/v1/ops/limits", json=stale, headers=auth).status_code == 409
    assert events(app) == []


def test_a_scan_that_shows_a_person_is_one_event_with_public_ids_only(app: Flask) -> None:
    site = make_site(app)
    member = make_staff(app, site)
    make_round(app)
    staff = StaffClient(app.test_client(), member.username)
    assert staff.login().status_code == 200
    person = make_person(app, "欧阳娜娜")

    response = staff.scan(scan_item(person.token, "T0AUD1T0"), scan_item("not-a-code", "T0AUD1T0"))

    assert response.status_code == 200
    assert [a["status"] for a in response.get_json()["items"]] == ["bound", "invalid"]
    [event] = events(app)  # the invalid code showed no one
    assert (event.actor_kind, event.actor, event.action) == ("staff", str(member.id), "scan.bound")
    assert event.object == f"resident:{person.resident.public_id} tube:T0AUD1T0"
    assert event.request_id == response.headers["X-Request-ID"]
    row = repr([getattr(event, c.key) for c in AuditEvent.__table__.columns])
    for personal in ("欧阳", "娜娜", person.id_number, person.last4, member.username):
        assert personal not in row


# --- the chain --------------------------------------------------------------------------------


def test_an_intact_chain_verifies_and_names_its_last_hash(app: Flask) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 5)

    report = verify(app)

    assert report.broken is None
    assert report.count == 5
    assert report.head == service.heads_digest({("staff", "7"): events(app)[-1].hash})
    assert [e.prev_hash for e in events(app)[1:]] == [e.hash for e in events(app)[:-1]]


def test_an_empty_trail_verifies(app: Flask) -> None:
    assert verify(app) == service.ChainReport(0, service.GENESIS, None)


def test_an_edited_row_is_found(app: Flask) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 5)
    third = events(app)[2].id

    behind_the_trigger(app, "UPDATE audit_events SET object = 'x' WHERE id = :id", id=third)

    report = verify(app)
    assert report.broken is not None
    assert report.broken.id == third
    assert "edited" in report.broken.reason


def test_an_edited_row_with_its_hash_recomputed_breaks_the_next_link(app: Flask) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 5)
    rows = events(app)
    third = rows[2]
    forged = service.event_hash(
        at=third.at,
        actor_kind=third.actor_kind,
        actor=third.actor,
        action=third.action,
        object="x",
        request_id=third.request_id,
        prev_hash=third.prev_hash,
    )

    behind_the_trigger(
        app, "UPDATE audit_events SET object = 'x', hash = :h WHERE id = :id", h=forged, id=third.id
    )

    report = verify(app)
    assert report.broken is not None
    assert report.broken.id == rows[3].id


def test_a_deleted_row_is_found_at_the_row_after_it(app: Flask) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 5)
    rows = events(app)

    behind_the_trigger(app, "DELETE FROM audit_events WHERE id = :id", id=rows[1].id)

    report = verify(app)
    assert report.broken is not None
    assert report.broken.id == rows[2].id
    assert "removed" in report.broken.reason
    assert report.count == 2


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = '8'", "DELETE FROM audit_events WHERE id > 0"],
)
def test_the_database_refuses_updates_and_deletes(app: Flask, statement: str) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 2)

    with pytest.raises(DBAPIError, match="append-only"), committed(app) as session:
        session.execute(text(statement))

    assert verify(app).count == 2


def test_concurrent_appends_make_one_unbroken_chain_per_actor(app: Flask) -> None:
    threads, each = 8, 25
    start = Barrier(threads)

    def writer(n: int) -> None:  # four writers for each of two actors
        with wiring_of(app).db.session() as session:
            start.wait()
            append(session, each, actor=str(n % 2))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, range(threads)))

    report = verify(app)
    assert report.broken is None
    assert report.count == threads * each
    # A fork would chain two rows of one actor to the same previous row.
    assert len({(e.actor, e.prev_hash) for e in events(app)}) == threads * each


# --- the commands -----------------------------------------------------------------------------


def test_audit_verify_exits_0_with_the_count_then_1_naming_a_removed_rows_successor(
    app: Flask,
) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 3)
    rows = events(app)
    runner = app.test_cli_runner()

    intact = runner.invoke(main, ["audit", "verify"])
    behind_the_trigger(app, "DELETE FROM audit_events WHERE id = :id", id=rows[0].id)
    broken = runner.invoke(main, ["audit", "verify"])

    assert intact.exit_code == 0, intact.output
    assert "intact: 3 events" in intact.output
    assert service.heads_digest({("staff", "7"): rows[-1].hash}) in intact.output
    assert broken.exit_code == 1
    assert f"broken at row {rows[1].id}" in broken.output


def test_audit_show_prints_one_line_per_event_since(app: Flask) -> None:
    with wiring_of(app).db.session() as session:
        append(session, 3)
    runner = app.test_cli_runner()

    recent = runner.invoke(main, ["audit", "show", "--since", "1h"])
    limited = runner.invoke(main, ["audit", "show", "--since", "2000-01-01", "--limit", "2"])
    future = runner.invoke(main, ["audit", "show", "--since", "2999-01-01T00:00+08:00"])
    nonsense = runner.invoke(main, ["audit", "show", "--since", "yesterday"])

    assert recent.exit_code == 0, recent.output
    lines = recent.output.splitlines()
    assert len(lines) == 3
    assert all("staff:7 test.append" in line for line in lines)
    assert ["obj:0" in lines[0], "obj:2" in lines[2]] == [True, True]
    assert len(limited.stdout.splitlines()) == 2
    assert (future.exit_code, future.output) == (0, "")
    assert nonsense.exit_code == 2
    assert "not a time" in nonsense.output


# --- the embedded default (SQLite) and the migration ------------------------------------------


def test_on_sqlite_the_chain_holds_and_edits_are_refused(embedded_app: Flask) -> None:
    with wiring_of(embedded_app).db.session() as session:
        append(session, 3)

    assert verify(embedded_app).count == 3
    with pytest.raises(DBAPIError, match="append-only"), committed(embedded_app) as session:
        session.execute(text("DELETE FROM audit_events"))
    assert verify(embedded_app).broken is None


def test_the_migration_goes_up_and_down(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url, "0006")
    upgrade(database_url)
    downgrade(database_url, "0006")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT 1 FROM pg_proc WHERE proname = 'audit_events_append_only'")
            if engine.dialect.name == "postgresql"
            else text("SELECT name FROM sqlite_master WHERE name LIKE 'audit_events%'")
        ).all()
    engine.dispose()
    assert names == []
    upgrade(database_url)
