"""The waiting room's queue and tickets, on the in-process Redis stand-in with a fake clock."""

from __future__ import annotations

import fakeredis
import pytest

from miniapp_api.overload.waiting_room import GRACE_SECONDS, WaitingRoom, ticket_key

KEY = ticket_key(b"k" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def room(clock: Clock) -> WaitingRoom:
    return WaitingRoom(fakeredis.FakeRedis(), KEY, clock)


def test_places_are_handed_out_one_interval_apart_in_order(room: WaitingRoom) -> None:
    places = [room.enter(f"account-{n}", None, rate=2.0) for n in range(3)]

    assert all(p is not None for p in places)
    waits = [p.wait_seconds for p in places if p]
    positions = [p.position for p in places if p]
    assert waits == pytest.approx([0.5, 1.0, 1.5])
    assert positions == [1, 2, 3]
    assert {p.status for p in places if p} == {"new"}


def test_after_a_quiet_spell_the_queue_starts_again_from_now(
    room: WaitingRoom, clock: Clock
) -> None:
    room.enter("a", None, rate=1.0)
    room.enter("b", None, rate=1.0)
    clock.now += 60

    place = room.enter("c", None, rate=1.0)

    assert place is not None
    assert place.wait_seconds == pytest.approx(1.0)


def test_a_ticket_goes_through_once_its_slot_has_come(room: WaitingRoom, clock: Clock) -> None:
    place = room.enter("a", None, rate=0.1)
    assert place is not None

    clock.now += 4
    early = room.enter("a", place.ticket, rate=0.1)
    clock.now += 6
    on_time = room.enter("a", place.ticket, rate=0.1)

    assert early is not None
    assert (early.status, early.ticket) == ("early", place.ticket)
    assert early.wait_seconds == pytest.approx(6.0)
    assert on_time is None


def test_a_ticket_is_good_for_its_own_account_and_room_only(
    room: WaitingRoom, clock: Clock
) -> None:
    place = room.enter("a", None, rate=10.0)
    assert place is not None
    clock.now += 1
    other_room = WaitingRoom(fakeredis.FakeRedis(), ticket_key(b"x" * 32), clock)

    borrowed = room.enter("b", place.ticket, rate=10.0)
    elsewhere = other_room.enter("a", place.ticket, rate=10.0)

    assert borrowed is not None
    assert borrowed.status == "invalid"
    assert borrowed.ticket != place.ticket
    assert elsewhere is not None
    assert elsewhere.status == "invalid"


def test_a_changed_slot_breaks_the_signature(room: WaitingRoom, clock: Clock) -> None:
    place = room.enter("a", None, rate=0.01)
    assert place is not None
    version, millis, mac = place.ticket.split(".")
    earlier = f"{version}.{int(millis) - 99_000}.{mac}"
    clock.now += 2

    assert room.slot_of("a", place.ticket) == pytest.approx(clock.now - 2 + 100)
    assert room.slot_of("a", earlier) is None
    for bad in (earlier, "w1..", "w2.1.x", "x" * 500, "."):
        again = room.enter("a", bad, rate=0.01)
        assert again is not None
        assert again.status == "invalid"


def test_a_ticket_expires_some_minutes_after_its_slot(room: WaitingRoom, clock: Clock) -> None:
    place = room.enter("a", None, rate=1.0)
    assert place is not None
    clock.now += 1 + GRACE_SECONDS + 1

    late = room.enter("a", place.ticket, rate=1.0)

    assert late is not None
    assert late.status == "expired"
    assert late.ticket != place.ticket


def test_a_closed_waiting_room_lets_everything_through(room: WaitingRoom) -> None:
    assert room.enter("a", None, rate=0.0) is None
    assert room.enter("a", "forged", rate=0.0) is None


def test_the_ticket_key_is_derived_not_the_secret_itself() -> None:
    secret = b"s" * 32
    assert ticket_key(secret) != secret
    assert len(ticket_key(secret)) == 32
    assert ticket_key(secret) != ticket_key(b"t" * 32)


def test_float_noise_does_not_push_a_place_back(room: WaitingRoom, clock: Clock) -> None:
    clock.now = 1_700_000_000.1234567  # not a whole microsecond
    first = room.enter("a", None, rate=1.0)
    assert first is not None
    assert first.position == 1


def test_a_ticket_signed_under_the_previous_index_key_keeps_its_place() -> None:
    clock = Clock()
    old = WaitingRoom(fakeredis.FakeRedis(), KEY, clock)
    new_key = ticket_key(b"n" * 32)
    new = WaitingRoom(fakeredis.FakeRedis(), new_key, clock, also_accepted=[KEY])
    ticket = old.sign("a_1", 1000.0)
    assert new.slot_of("a_1", ticket) == 1000.0
    assert WaitingRoom(fakeredis.FakeRedis(), new_key, clock).slot_of("a_1", ticket) is None
    assert new.slot_of("a_1", new.sign("a_1", 5.0)) == 5.0
