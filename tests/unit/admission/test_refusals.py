"""Refused callers remembered by the worker, so their retries need no Redis round trip."""

from __future__ import annotations

from miniapp_api.admission.refusals import RecentRefusals


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_caller_waits_until_the_time_given_then_is_asked_about_again() -> None:
    clock = Clock()
    refusals = RecentRefusals(clock)
    refusals.remember("adm:{abc}:user", 2.0, share=1.0)

    assert refusals.wait("adm:{abc}:user", share=1.0) == 2.0
    assert refusals.wait("adm:{other}:user", share=1.0) == 0.0
    clock.now += 2.5
    assert refusals.wait("adm:{abc}:user", share=1.0) == 0.0


def test_a_refusal_of_a_lower_class_does_not_hold_back_a_higher_one() -> None:
    refusals = RecentRefusals(Clock())
    refusals.remember("k", 3.0, share=0.5)  # a sheddable request was refused
    assert refusals.wait("k", share=0.5) == 3.0
    assert refusals.wait("k", share=1.0) == 0.0  # a critical one may still fit: ask Redis
