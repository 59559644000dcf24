"""One wall-time budget object, passed down instead of seconds arithmetic.

A detector makes one ``Budget(time_budget)`` when ``fit`` starts and hands shares of it to the parts it
trains: ``budget.share(0.5)`` is a sub-budget of half the time that remains now, never reaching beyond its
parent's deadline. A fit loop that checks the clock only at the end of an epoch gets
``seconds_for_fit_loop(...)``, a number of seconds (generators and ``TrainConfig`` take plain seconds).

``Budget(None)`` never expires and all its shares and fit-loop seconds are None: the deterministic mode, in
which nothing stops on wall time. The clock is injectable, so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Budget"]


class Budget:
    """A deadline ``seconds`` from now (None: no deadline).

    Args:
        seconds: wall seconds from now; None never expires.
        clock: a monotonic clock in seconds (default ``time.perf_counter``).
    """

    def __init__(self, seconds: float | None, clock: Callable[[], float] | None = None) -> None:
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"a time budget must be None or >= 0 seconds, got {seconds}")
        self.clock = clock or time.perf_counter
        self.started = self.clock()
        self.seconds = None if seconds is None else float(seconds)
        self.deadline = None if seconds is None else self.started + float(seconds)

    @property
    def limited(self) -> bool:
        """True when there is a deadline (False: deterministic mode)."""
        return self.deadline is not None

    def elapsed(self) -> float:
        """Seconds since this budget was made."""
        return self.clock() - self.started

    def remaining(self) -> float | None:
        """Seconds left, never below 0; None when unlimited."""
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def expired(self) -> bool:
        """True once the deadline has passed (never for an unlimited budget)."""
        return self.deadline is not None and self.clock() >= self.deadline

    def share(self, fraction: float) -> Budget:
        """A sub-budget of ``fraction`` of the time remaining now (unlimited when this one is)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"a budget share must be in [0, 1], got {fraction}")
        left = self.remaining()
        return Budget(None if left is None else fraction * left, self.clock)

    def seconds_for_fit_loop(self, safety: float = 0.0, reserve: float = 0.0) -> float | None:
        """The ``time_budget`` to give a fit loop that checks the clock only after each epoch.

        Args:
            safety: share of the remaining time kept back for the epoch that runs past the limit.
            reserve: seconds kept back besides (e.g. half an epoch measured earlier).

        Returns:
            ``(1 - safety) * remaining - reserve`` seconds, never below 0; None when unlimited.
        """
        left = self.remaining()
        return None if left is None else max(0.0, (1.0 - safety) * left - reserve)

    def __repr__(self) -> str:
        return "Budget(None)" if self.deadline is None else f"Budget({self.seconds}, remaining={self.remaining():.3f})"
