"""A screening world for the retention tests, on PostgreSQL and on the embedded SQLite: tubes
sampled and tested through the app, then aged by moving their times back."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from miniapp_api.db import utcnow
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.residents.models import Resident
from miniapp_api.results.models import PersonResult, TubeResult, TubeResultAmendment
from miniapp_api.retention.purge import Kind, Purge, PurgeReport, purge
from miniapp_api.sampling.models import Sampling, Tube
from miniapp_api.settings import RetentionSettings
from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, iso_ago, result
from tests.support.factories import Desk, committed, make_desk, make_lab, make_residents, make_tube

# Short periods, so that "old" is a few days back.
PERIODS = RetentionSettings(
    results_days=30,
    samplings_days=20,
    audit_days=60,
    expired_codes_days=10,
    outbox_days=7,
    notices_days=15,
    lab_requests_days=5,
    batch_size=100,
    pause_factor=0.0,  # one test checks the pause
)


@dataclass
class World:
    app: Flask
    desk: Desk
    lab: LabClient
    settings: RetentionSettings = PERIODS

    def tube(self, people: int = 1, *, tested: bool = True, amended: bool = False) -> str:
        """A closed tube of ``people`` new residents, sampled now, with a negative result if
        ``tested`` (through the lab API), amended to positive if ``amended``: its number."""
        tube_no = make_tube(self.app, self.desk, make_residents(self.app, people), capacity=20)
        if tested:
            answer = self.lab.upload([result(tube_no, "negative", iso_ago(5))])
            assert answer.status_code == 200, answer.get_json()
        if amended:
            assert self.lab.amend(tube_no, "positive").status_code == 200
        return tube_no

    def age(self, tube_no: str, days: float) -> None:
        """Move the tube's sampling and test ``days`` into the past (one time per column
        for a whole tube, as sampling and ingest write them)."""
        back = timedelta(days=days)
        with committed(self.app) as session:
            tube_id = session.scalars(select(Tube.id).where(Tube.tube_no == tube_no)).one()
            for model, column in (
                (Sampling, Sampling.scanned_at),
                (TubeResult, TubeResult.tested_at),
                (PersonResult, PersonResult.tested_at),
            ):
                moment = session.scalars(select(column).where(model.tube_id == tube_id)).first()
                if moment is not None:
                    session.execute(
                        update(model)
                        .where(model.tube_id == tube_id)
                        .values({column: moment - back})
                    )

    def purge(self, **kw: object) -> PurgeReport:
        settings = kw.pop("settings", self.settings)
        assert isinstance(settings, RetentionSettings)
        job = Purge(wiring_of(self.app).db, self.readmodel(), settings, utcnow())
        return purge(job, **kw)  # type: ignore[arg-type]

    def readmodel(self) -> ResultReadModel:
        """The app's (a test may swap it)."""
        return wiring_of(self.app).readmodel

    def rows(self, model: type, tube_no: str) -> int:
        """How many rows of ``model`` belong to the tube."""
        with committed(self.app) as session:
            tube_id = session.scalars(select(Tube.id).where(Tube.tube_no == tube_no)).one()
            if model is TubeResultAmendment:
                query = (
                    select(TubeResultAmendment.id)
                    .join(TubeResult)
                    .where(TubeResult.tube_id == tube_id)
                )
            else:
                query = select(model.id).where(model.tube_id == tube_id)  # type: ignore[attr-defined]
            return len(session.scalars(query).all())

    def shown(self, tube_no: str) -> list[ResultEntry]:
        """The read model's entries of the tube's people."""
        with committed(self.app) as session:
            people = session.scalars(
                select(Resident.public_id)
                .join(Sampling, Sampling.resident_id == Resident.id)
                .join(Tube, Tube.id == Sampling.tube_id)
                .where(Tube.tube_no == tube_no)
            ).all()
        found = wiring_of(self.app).readmodel.read(people)
        return [e for entries in found.values() for e in entries if e.tube_no == tube_no]


@pytest.fixture(params=["postgresql", "sqlite"])
def world(request: pytest.FixtureRequest) -> World:
    """The app on PostgreSQL and Redis, or as ``make run`` starts it (SQLite, memory://)."""
    app: Flask = request.getfixturevalue("app" if request.param == "postgresql" else "embedded_app")
    wiring_of(app).redis.flushdb()  # the embedded stand-in is one per process
    lab = make_lab(app)
    return World(app, make_desk(app, lab), LabClient(app.test_client(), lab))


def with_settings(world: World, **changes: int) -> World:
    return replace(world, settings=replace(world.settings, **changes))


__all__ = ["PERIODS", "Kind", "World", "with_settings"]
