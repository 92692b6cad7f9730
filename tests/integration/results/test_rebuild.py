"""``miniapp readmodel rebuild`` restores the read model from the database."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask

from miniapp_api.results.commands import readmodel
from miniapp_api.results.rebuild import rebuild_read_model
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result
from tests.support.factories import Desk, make_desk, make_residents, make_tube, new_session


def snapshot(app: Flask, ids: list[str]) -> dict[str, list[tuple[str, str, str | None]]]:
    read = wiring_of(app).readmodel.read(ids)
    return {
        rid: [(e.tube_no, e.state, e.tested_at.isoformat() if e.tested_at else None) for e in es]
        for rid, es in read.items()
    }


def test_the_rebuild_command_restores_a_flushed_read_model(
    app: Flask, lab_client: LabClient, desk: Desk
) -> None:
    people = make_residents(app, 5)
    tubes = [make_tube(app, desk, people[:3]), make_tube(app, desk, people[3:], capacity=1)]
    make_tube(app, make_desk(app, desk.lab), people[:1])  # a later round, pending
    lab_client.upload([result(tubes[0], "negative"), result(tubes[1], "positive")])
    ids = [p.public_id for p in people]
    before = snapshot(app, ids)
    assert sum(len(v) for v in before.values()) == 6

    wiring_of(app).redis.flushdb()
    assert all(v == [] for v in snapshot(app, ids).values())
    outcome = app.test_cli_runner().invoke(readmodel, ["rebuild", "--batch-size", "2"])

    assert outcome.exit_code == 0, outcome.output
    assert "6 samplings" in outcome.output
    assert snapshot(app, ids) == before


def test_the_rebuild_corrects_a_stale_entry(app: Flask, lab_client: LabClient, desk: Desk) -> None:
    person = make_residents(app, 1)[0]
    tube = make_tube(app, desk, [person])
    lab_client.upload([result(tube, "negative")])
    model = wiring_of(app).readmodel
    fresh = model.read([person.public_id])[person.public_id][0]
    model.record([(person.public_id, replace(fresh, state="pending", tested_at=None))])

    with new_session(app) as session:
        assert rebuild_read_model(session, model, batch_size=100) == 1

    assert model.read([person.public_id])[person.public_id] == [fresh]
