"""The budget object: deadlines, shares and fit-loop seconds on an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from anomalyforge.core.budget import Budget


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_deadline_remaining_and_expiry_follow_the_clock():
    clock = FakeClock()
    budget = Budget(10.0, clock)
    assert budget.limited and budget.remaining() == 10.0 and not budget.expired()
    clock.now += 4.0
    assert budget.elapsed() == 4.0 and budget.remaining() == 6.0
    clock.now += 6.0
    assert budget.expired() and budget.remaining() == 0.0
    clock.now += 5.0
    assert budget.remaining() == 0.0  # never negative


def test_a_share_is_a_fraction_of_what_remains_and_never_outlives_its_parent():
    clock = FakeClock()
    budget = Budget(60.0, clock)
    clock.now += 20.0
    part = budget.share(0.5)
    assert part.remaining() == 20.0 and part.seconds == 20.0
    clock.now += 20.0
    assert part.expired() and not budget.expired() and budget.remaining() == 20.0
    assert budget.share(1.0).deadline == budget.deadline
    with pytest.raises(ValueError, match="share"):
        budget.share(1.5)


def test_seconds_for_fit_loop_keeps_back_safety_and_reserve():
    clock = FakeClock()
    budget = Budget(30.0, clock)
    assert budget.seconds_for_fit_loop() == 30.0
    assert budget.seconds_for_fit_loop(safety=0.1) == pytest.approx(27.0)
    assert budget.seconds_for_fit_loop(reserve=2.0) == pytest.approx(28.0)
    clock.now += 29.0
    assert budget.seconds_for_fit_loop(reserve=2.0) == 0.0


def test_no_budget_never_expires_and_gives_no_seconds():
    clock = FakeClock()
    budget = Budget(None, clock)
    clock.now += 1e9
    assert not budget.limited and not budget.expired() and budget.remaining() is None
    share = budget.share(0.3)
    assert not share.limited and share.seconds is None
    assert budget.seconds_for_fit_loop(safety=0.5, reserve=3.0) is None
    assert repr(budget) == "Budget(None)"


def test_negative_budget_is_refused():
    with pytest.raises(ValueError, match="time budget"):
        Budget(-1.0)
