"""Results and samplings past their periods go (with the read model's entries); younger stay;
batches are small and a purge that was cut short is finished by the next run."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import redis

from miniapp_api.readmodel import ResultReadModel
from miniapp_api.results.models import PersonResult, TubeResult, TubeResultAmendment
from miniapp_api.retention.purge import Kind
from miniapp_api.sampling.models import Sampling
from tests.integration.retention.conftest import World, with_settings


def test_results_past_their_period_go_with_amendments_people_and_samplings(world: World) -> None:
    old = world.tube(people=3, amended=True)
    young = world.tube(people=2)
    world.age(old, days=31)
    world.age(young, days=29)

    report = world.purge()

    assert dict(report.deleted[Kind.RESULTS]) == {
        "person_results": 3,
        "tube_result_amendments": 1,
        "tube_results": 1,
        "samplings": 3,
    }
    for model in (TubeResult, TubeResultAmendment, PersonResult, Sampling):
        assert world.rows(model, old) == 0, model
    assert [world.rows(m, young) for m in (TubeResult, PersonResult, Sampling)] == [1, 2, 2]


def test_the_read_model_no_longer_shows_a_purged_result(world: World) -> None:
    old, young = world.tube(), world.tube()
    world.age(old, days=31)
    assert [e.state for e in world.shown(old)] == ["negative"]

    world.purge()

    assert world.shown(old) == []
    assert [e.state for e in world.shown(young)] == ["negative"]


def test_samplings_never_tested_go_after_their_period_tested_ones_wait_for_their_result(
    world: World,
) -> None:
    lost = world.tube(people=2, tested=False)
    tested = world.tube(people=1)
    recent = world.tube(people=1, tested=False)
    world.age(lost, days=21)
    world.age(tested, days=25)  # past the samplings' 20 days, not the results' 30
    world.age(recent, days=19)
    assert len(world.shown(lost)) == 2  # pending

    first = world.purge(kinds=(Kind.SAMPLINGS,))
    again = world.purge(kinds=(Kind.SAMPLINGS,))

    assert dict(first.deleted[Kind.SAMPLINGS]) == {"samplings": 2}
    assert world.rows(Sampling, lost) == 0
    assert world.shown(lost) == []
    assert [world.rows(Sampling, t) for t in (tested, recent)] == [1, 1]
    assert dict(again.deleted[Kind.SAMPLINGS]) == {}
    # Its result goes at 30 days, and the sampling with it.
    world.age(tested, days=6)
    world.purge(kinds=(Kind.RESULTS,))
    assert world.rows(Sampling, tested) == 0


def test_a_batch_holds_whole_tubes_up_to_batch_size_people(world: World) -> None:
    tubes = [world.tube(people=n) for n in (1, 1, 2, 3)]
    for tube in tubes:
        world.age(tube, days=40)

    report = with_settings(world, batch_size=2).purge(kinds=(Kind.RESULTS,))

    # [1+1], [2], [3: one tube, over the size; the last one found, so the kind is done].
    assert report.batches == 3
    assert report.deleted[Kind.RESULTS]["person_results"] == 7


class FlakyReadModel(ResultReadModel):
    """Redis fails on the ``fail_at``-th batch (as a killed process or a lost connection)."""

    def __init__(self, client: redis.Redis, fail_at: int) -> None:
        super().__init__(client)
        self.calls, self.fail_at = 0, fail_at

    def drop(self, entries):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls == self.fail_at:
            raise redis.ConnectionError("Redis went away")
        return super().drop(entries)


def test_batch_size_2_with_5_rows_resumes_after_an_interruption(world: World) -> None:
    tubes = [world.tube() for _ in range(5)]
    for tube in tubes:
        world.age(tube, days=31)
    small = with_settings(world, batch_size=2)
    flaky = FlakyReadModel(small.readmodel()._redis, fail_at=2)  # noqa: SLF001
    small.readmodel = lambda: flaky  # type: ignore[method-assign]

    with pytest.raises(redis.ConnectionError):
        small.purge(kinds=(Kind.RESULTS,))
    # The first batch committed; the second rolled back whole, its rows and entries kept.
    gone = [t for t in tubes if world.rows(TubeResult, t) == 0]
    assert len(gone) == 2
    assert all(world.rows(PersonResult, t) == 1 and world.shown(t) for t in tubes if t not in gone)

    finished = small.purge(kinds=(Kind.RESULTS,))

    assert finished.deleted[Kind.RESULTS]["tube_results"] == 3
    assert all(world.rows(TubeResult, t) == 0 and world.shown(t) == [] for t in tubes)


def test_a_batch_that_leaves_more_to_do_is_followed_by_a_pause_as_long_as_it_took(
    world: World,
) -> None:
    for tube in [world.tube() for _ in range(3)]:
        world.age(tube, days=31)
    pauses: list[float] = []
    paced = with_settings(world, batch_size=1)
    paced.settings = replace(paced.settings, pause_factor=2.0)

    report = paced.purge(kinds=(Kind.RESULTS,), sleep=pauses.append)

    assert report.batches == 4  # one tube each, and the empty look that ends the kind
    assert len(pauses) == 3
    assert all(0 < p <= 2 * report.longest_batch_seconds for p in pauses)


def test_a_stop_between_batches_leaves_the_rest_to_the_next_run(world: World) -> None:
    tubes = [world.tube() for _ in range(5)]
    for tube in tubes:
        world.age(tube, days=31)
    stop, batches = threading.Event(), iter(range(100))

    def one_batch_only() -> bool:
        return next(batches) < 1

    stopped = with_settings(world, batch_size=2).purge(stop=stop, keep_going=one_batch_only)
    rest = with_settings(world, batch_size=2).purge()

    assert stopped.stopped
    assert stopped.batches == 1
    assert stopped.deleted[Kind.RESULTS]["tube_results"] == 2
    assert rest.deleted[Kind.RESULTS]["tube_results"] == 3
