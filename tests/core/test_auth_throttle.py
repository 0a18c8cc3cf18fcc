"""Failed logins: each answered later, then the address refused until its failures age out."""

from __future__ import annotations

from mailbeacon.core.auth_throttle import AuthThrottle


def test_each_failure_is_answered_later_up_to_the_cap() -> None:
    throttle = AuthThrottle(base_delay=0.5, max_delay=2.0, budget=100)
    delays = [throttle.failed("192.0.2.1", float(t)) for t in range(7)]
    assert delays == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert throttle.failed("198.51.100.7", 7.0) == 0.0  # another address has its own count


def test_an_address_past_its_budget_is_refused_until_its_failures_leave_the_window() -> None:
    throttle = AuthThrottle(budget=3, window=60.0)
    for t in (0.0, 10.0, 20.0):
        assert not throttle.refused("192.0.2.1", t)
        throttle.failed("192.0.2.1", t)
    assert throttle.refused("192.0.2.1", 30.0)
    assert throttle.refused("192.0.2.1", 59.9)
    assert not throttle.refused("192.0.2.1", 60.0)  # the first failure has left the window
    assert not throttle.refused("198.51.100.7", 30.0)


def test_memory_is_bounded_whatever_the_number_of_addresses() -> None:
    throttle = AuthThrottle(capacity=100)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(throttle._failures) <= 100
