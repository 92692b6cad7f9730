"""The per-worker adaptive in-flight limit."""

from __future__ import annotations

from miniapp_api.admission.adaptive import AdaptiveConcurrency


def run_crowded(limiter: AdaptiveConcurrency, rtt: float, rounds: int) -> None:
    """Fill the limiter to its limit and finish every request in ``rtt`` seconds."""
    for _ in range(rounds):
        held = 0
        while limiter.try_acquire():
            held += 1
        for _ in range(held):
            limiter.release(rtt)


def test_requests_beyond_the_limit_are_refused_and_slots_come_back() -> None:
    limiter = AdaptiveConcurrency(initial=4, minimum=1, maximum=8)
    assert [limiter.try_acquire() for _ in range(5)] == [True, True, True, True, False]
    limiter.release(0.01)
    assert limiter.try_acquire() is True


def test_lower_classes_get_a_share_of_the_limit() -> None:
    limiter = AdaptiveConcurrency(initial=10, minimum=1, maximum=10)
    for _ in range(5):
        assert limiter.try_acquire(share=1.0)
    assert limiter.try_acquire(share=0.5) is False  # sheddable: half the limit is in use
    assert limiter.try_acquire(share=1.0) is True  # critical: still room


def test_the_limit_shrinks_when_latency_rises_under_load_and_recovers_after() -> None:
    limiter = AdaptiveConcurrency(initial=32, minimum=2, maximum=64)
    run_crowded(limiter, rtt=0.005, rounds=200)  # healthy: the limit grows towards the maximum
    healthy = limiter.limit
    run_crowded(limiter, rtt=0.100, rounds=30)  # twenty times slower: queueing
    assert limiter.limit < healthy / 2
    run_crowded(limiter, rtt=0.005, rounds=200)
    assert limiter.limit >= healthy * 0.9


def test_slow_requests_with_few_in_flight_do_not_shrink_the_limit() -> None:
    """A slow platform call is not crowding (Gradient2's application-limited rule)."""
    limiter = AdaptiveConcurrency(initial=32, minimum=2, maximum=64)
    run_crowded(limiter, rtt=0.005, rounds=50)
    before = limiter.limit
    for _ in range(200):
        assert limiter.try_acquire()
        limiter.release(0.500)  # one at a time, each very slow
    assert limiter.limit >= before
