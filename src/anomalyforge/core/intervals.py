"""Alerts as events: flagged steps merged into intervals, each with its peak and a calibrated p-value.

The merge rule, one for batch and stream alike: a maximal run of flagged steps is an interval, and two
intervals separated by at most ``max_gap`` unflagged steps are one (``max_gap=0``: only adjacent flags
merge). An interval shorter than ``min_length`` steps (end - start + 1, gaps inside included) is dropped.
Its peak is the highest score inside it (the first such step on ties).

The p-value of a peak is calibrated on reference scores, normally the detector's held-out training
scores (``threshold_reference()``: ``calibration_scores_``, out-of-fold or of the held-out tail, saved with
the model; the in-sample ``train_scores_`` when the training series was too short to hold any out):
``(1 + #{reference >= peak}) / (1 + n_reference)``, the conformal p-value, which is never 0 (a peak above
every reference score of n gets ``1 / (n + 1)``). Held-out scores are what a model gives unseen normal data,
so these p-values are valid when test data is like training data.

``IntervalTracker`` applies the rule online: an interval is closed, and returned, once ``max_gap + 1``
unflagged steps follow it (or at ``close``); ``flag_intervals`` is the tracker run over a whole series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["AlertInterval", "IntervalTracker", "flag_intervals", "calibrated_p_values", "INTERVAL_COLUMNS"]

#: Columns of ``intervals.csv`` (``AlertInterval.as_row``), in order.
INTERVAL_COLUMNS = (
    "start", "end", "length", "start_timestamp", "end_timestamp", "peak_step", "peak_score", "peak_p_value",
    "top_channels",
)  # fmt: skip


@dataclass
class AlertInterval:
    """One alert: flagged steps ``start .. end`` (inclusive) merged by the module's rule.

    Attributes:
        start, end: first and last flagged step (inclusive), indices of the scored series or stream.
        peak_step, peak_score: where the score is highest inside the interval, and that score.
        peak_p_value: calibrated p-value of the peak score (None without reference scores).
        start_timestamp, end_timestamp: the timestamps of ``start`` and ``end`` when the series has them.
        top_channels: channel names that contribute most to the alert (filled by an attribution hook;
            empty when none is given).
    """

    start: int
    end: int
    peak_step: int
    peak_score: float
    peak_p_value: float | None = None
    start_timestamp: str | None = None
    end_timestamp: str | None = None
    top_channels: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field plus ``length``."""
        return {**asdict(self), "length": self.length}

    def as_row(self) -> dict[str, Any]:
        """One ``intervals.csv`` row (``INTERVAL_COLUMNS``); ``top_channels`` joined with ``;``."""
        d = self.as_dict()
        d["top_channels"] = ";".join(self.top_channels)
        return {k: d[k] for k in INTERVAL_COLUMNS}


def calibrated_p_values(scores: Any, reference: Any, *, is_sorted: bool = False) -> np.ndarray:
    """Conformal p-value of each score against reference scores: ``(1 + #{ref >= s}) / (1 + n_ref)``.

    Args:
        scores: (n,) scores.
        reference: (m,) reference scores (training scores), m >= 1.
        is_sorted: ``reference`` is already sorted ascending (saves the sort when called per chunk).

    Returns:
        (n,) float64 p-values in (0, 1].
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if ref.size == 0:
        raise ValueError("calibrated p-values need at least one reference score")
    if not is_sorted:
        ref = np.sort(ref)
    s = np.asarray(scores, dtype=np.float64).ravel()
    at_or_above = ref.size - np.searchsorted(ref, s, side="left")
    return (1.0 + at_or_above) / (1.0 + ref.size)


Attribution = Callable[[AlertInterval], Sequence[str]]


class IntervalTracker:
    """The merge rule online: feed flags chunk by chunk, get each interval when it closes.

    Args:
        max_gap: unflagged steps allowed inside one interval (>= 0).
        min_length: shortest interval kept, in steps (>= 1).
        attribute: optional hook called with each closed interval, returning its top channel names
            (e.g. built on ``core.attribution.channel_attribution``); None leaves ``top_channels`` empty.
    """

    def __init__(self, *, max_gap: int = 0, min_length: int = 1, attribute: Attribution | None = None) -> None:
        if int(max_gap) != max_gap or max_gap < 0:
            raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
        if int(min_length) != min_length or min_length < 1:
            raise ValueError(f"min_length must be an integer >= 1, got {min_length!r}")
        self.max_gap, self.min_length, self.attribute = int(max_gap), int(min_length), attribute
        self._open: AlertInterval | None = None
        self._next_step = 0

    def update(
        self,
        first_step: int,
        flags: Any,
        scores: Any,
        *,
        timestamps: Sequence[Any] | None = None,
        p_values: Any = None,
    ) -> list[AlertInterval]:
        """Add the flags of steps ``first_step .. first_step + k - 1`` (consecutive with the previous call).

        Args:
            first_step: index of the first step of this chunk.
            flags: (k,) 0/1 flags.
            scores: (k,) scores.
            timestamps: (k,) timestamps of the steps, or None.
            p_values: (k,) calibrated p-values of the scores, or None.

        Returns:
            the intervals that closed with this chunk, in order.
        """
        flags = np.asarray(flags).ravel().astype(bool)
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if first_step != self._next_step:
            raise ValueError(f"steps must arrive in order: expected step {self._next_step}, got {first_step}")
        if scores.shape != flags.shape:
            raise ValueError(f"{flags.size} flags for {scores.size} scores")
        closed: list[AlertInterval] = []
        for i in np.flatnonzero(flags):
            step = first_step + int(i)
            current = self._open
            if current is not None and step - current.end - 1 > self.max_gap:
                closed += self._finish()
                current = None
            ts = None if timestamps is None else str(timestamps[i])
            p = None if p_values is None else float(p_values[i])
            if current is None:
                self._open = AlertInterval(step, step, step, float(scores[i]), p, ts, ts)
                continue
            current.end, current.end_timestamp = step, ts
            if scores[i] > current.peak_score:
                current.peak_step, current.peak_score, current.peak_p_value = step, float(scores[i]), p
        self._next_step = first_step + flags.size
        if self._open is not None and self._next_step - 1 - self._open.end > self.max_gap:
            closed += self._finish()
        return closed

    @property
    def open_interval(self) -> AlertInterval | None:
        """The interval still open (its end may grow), or None."""
        return self._open

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the rule, the next expected step and the open interval (``from_state`` restores)."""
        open_ = None if self._open is None else {k: v for k, v in self._open.as_dict().items() if k != "length"}
        return {"max_gap": self.max_gap, "min_length": self.min_length, "next_step": self._next_step, "open": open_}

    @classmethod
    def from_state(cls, state: dict[str, Any], *, attribute: Attribution | None = None) -> IntervalTracker:
        """A tracker in the state ``state_dict`` returned."""
        tracker = cls(max_gap=state["max_gap"], min_length=state["min_length"], attribute=attribute)
        tracker._next_step = int(state["next_step"])
        tracker._open = None if state.get("open") is None else AlertInterval(**state["open"])
        return tracker

    def close(self) -> list[AlertInterval]:
        """End of the series: the open interval, if any (and long enough)."""
        return self._finish()

    def _finish(self) -> list[AlertInterval]:
        interval, self._open = self._open, None
        if interval is None or interval.length < self.min_length:
            return []
        if self.attribute is not None:
            interval.top_channels = [str(c) for c in self.attribute(interval)]
        return [interval]


def flag_intervals(
    flags: Any,
    scores: Any,
    *,
    max_gap: int = 0,
    min_length: int = 1,
    timestamps: Sequence[Any] | None = None,
    p_values: Any = None,
    attribute: Attribution | None = None,
) -> list[AlertInterval]:
    """Merge the flagged steps of a whole series into alert intervals (the module's rule).

    Args:
        flags: (n,) 0/1 flags (e.g. ``detector.predict(X)``).
        scores: (n,) scores the flags came from.
        max_gap: unflagged steps allowed inside one interval.
        min_length: shortest interval kept, in steps.
        timestamps: (n,) timestamps, or None.
        p_values: (n,) calibrated p-values of the scores (``calibrated_p_values``), or None.
        attribute: hook filling ``top_channels`` (see ``IntervalTracker``).

    Returns:
        the intervals in time order.
    """
    tracker = IntervalTracker(max_gap=max_gap, min_length=min_length, attribute=attribute)
    return tracker.update(0, flags, scores, timestamps=timestamps, p_values=p_values) + tracker.close()
