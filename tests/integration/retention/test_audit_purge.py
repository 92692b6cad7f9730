"""Audit events past AUDIT_DAYS go as whole chain prefixes; the chains still verify from their
anchors, tampering is still found, and the database still refuses any other DELETE or UPDATE."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from miniapp_api.audit import service
from miniapp_api.audit.models import AuditAnchor, AuditEvent
from miniapp_api.audit.service import ActorKind
from miniapp_api.db import utcnow
from miniapp_api.retention.purge import Kind
from miniapp_api.wiring import wiring_of
from tests.integration.retention.conftest import World, with_settings
from tests.support.factories import committed

OLD = timedelta(days=61)  # AUDIT_DAYS = 60 in these tests


def append(app: Flask, actor: str, *ages: timedelta) -> None:
    """One event of staff ``actor`` per age (that long ago), each in its own transaction."""
    with wiring_of(app).db.session() as session:
        for n, age in enumerate(ages):
            with session.begin():
                service.record(
                    session,
                    actor_kind=ActorKind.STAFF,
                    actor=actor,
                    action="test.append",
                    object=f"obj:{n}",
                    at=utcnow() - age,
                )


def events(app: Flask) -> list[AuditEvent]:
    with committed(app) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def verify(app: Flask) -> service.ChainReport:
    with wiring_of(app).db.session() as session:
        return service.verify(session, batch_size=2, retention=timedelta(days=60))


def test_old_events_go_and_the_chains_verify_from_their_anchors(world: World) -> None:
    app = world.app
    append(app, "7", OLD, OLD, OLD, OLD, timedelta(days=1), timedelta(0))
    append(app, "8", OLD, OLD, OLD)
    before = verify(app)

    report = with_settings(world, batch_size=2).purge(kinds=(Kind.AUDIT,))

    assert dict(report.deleted[Kind.AUDIT]) == {"audit_events": 7}
    assert [(e.actor, e.object) for e in events(app)] == [("7", "obj:4"), ("7", "obj:5")]
    after = verify(app)
    assert (after.broken, after.count, after.anchored, after.early) == (None, 2, 2, ())
    assert after.head == before.head  # the heads of the chains did not change
    # A chain purged whole goes on from its anchor.
    append(app, "8", timedelta(0))
    with committed(app) as session:
        anchor = session.get_one(AuditAnchor, ("staff", "8"))
    assert events(app)[-1].prev_hash == anchor.hash
    assert verify(app).broken is None


def test_a_younger_event_holds_back_the_older_ones_after_it_in_its_chain(world: World) -> None:
    # Written with a clock that jumped: ids and times disagree. A chain loses a prefix only.
    append(world.app, "7", OLD, timedelta(0), OLD)

    world.purge(kinds=(Kind.AUDIT,))

    assert [e.object for e in events(world.app)] == ["obj:1", "obj:2"]
    assert verify(world.app).broken is None


def test_after_a_purge_a_removed_or_edited_row_is_still_found(app: Flask) -> None:
    world_app = app
    append(world_app, "7", OLD, OLD, timedelta(0), timedelta(0), timedelta(0))
    job_world = World(world_app, None, None)  # type: ignore[arg-type]  # no tubes needed
    job_world.purge(kinds=(Kind.AUDIT,))
    first, second, third = events(world_app)

    with committed(world_app) as session:  # what a superuser could do: triggers off
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(
            text("UPDATE audit_events SET object = 'x' WHERE id = :id"), {"id": third.id}
        )
    edited = verify(world_app)
    with committed(world_app) as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": first.id})
    removed = verify(world_app)

    assert edited.broken is not None
    assert edited.broken.id == third.id
    # The first remaining row went: the next one no longer links to the anchor.
    assert removed.broken is not None
    assert removed.broken.id == second.id


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE object = 'obj:1'",  # old, not yet under the anchor
        "UPDATE audit_events SET actor = '9'",
        "DELETE FROM audit_anchors",
        "UPDATE audit_anchors SET last_id = 0",
    ],
)
def test_the_database_still_refuses_any_other_delete_or_update(
    world: World, statement: str
) -> None:
    append(world.app, "7", OLD, OLD, timedelta(0), OLD)
    with_settings(world, batch_size=1).purge(
        kinds=(Kind.AUDIT,), keep_going=iter([True, False]).__next__
    )
    assert len(events(world.app)) == 3  # the first went, under its anchor

    with (
        pytest.raises(DBAPIError, match="append-only|only move forward"),
        committed(world.app) as session,
    ):
        session.execute(text(statement))

    assert len(events(world.app)) == 3
    assert verify(world.app).broken is None


def test_an_anchor_that_let_young_rows_go_is_reported(world: World) -> None:
    append(world.app, "7", OLD, OLD)
    world.purge(kinds=(Kind.AUDIT,))
    with committed(world.app) as session:
        anchor = session.get_one(AuditAnchor, ("staff", "7"))
        purged_at: datetime = anchor.purged_at

    with wiring_of(world.app).db.session() as session:
        strict = service.verify(session, retention=purged_at - anchor.purged_before + OLD)

    assert strict.early == ("staff:7",)
    assert strict.broken is None
