"""Batch-mixing anomaly injectors: CutAddPaste (Wang et al., KDD 2024) and NCAD (Carmona et al., 2021).

Both take material from other windows of the batch they are given; magnitudes are relative to
``rules.channel_scale``. Each class documents what it does and where it departs from the published code.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from anomalyforge.core.registry import GENERATORS
from anomalyforge.core.validation import Interval
from anomalyforge.generators.rules import _RuleGenerator, channel_scale

__all__ = ["CutAddPaste", "NCADInjection"]


def _subset(rng: np.random.Generator, n_channels: int) -> np.ndarray:
    """A random non-empty subset of channels: 1 .. max(1, D // 2) distinct ones, sorted."""
    k = int(rng.integers(1, max(1, n_channels // 2) + 1))
    return np.sort(rng.choice(n_channels, size=k, replace=False))


@GENERATORS.register("cutaddpaste")
class CutAddPaste(_RuleGenerator):
    """CutAddPaste (Wang et al., KDD 2024): cut a segment from a batch window, add a linear trend, paste it.

    For each window: a donor window is drawn from the batch (it may be the window itself, as in the
    published code); a segment of length max(``min_cut`` T, U(0, 1) T) is cut from it at a random start;
    on a random subset of 1 .. max(1, D // 2) channels a trend ``sign * U(0, trend_rate) * scale * t``
    (t = 0 .. L-1, scale = the donor channel's scale) is added; the segment replaces those channels of
    the window at another random start. (The published code pastes every channel and adds the trend to
    some; pasting only the trended channels keeps the change local to those channels.)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_cut": [Interval(float, 0.0, 1.0, "right")], "trend_rate": [Interval(float, 0.0, None, "neither")]
    }

    def __init__(self, min_cut: float = 0.1, trend_rate: float = 0.01, min_scale: float = 0.1) -> None:
        self.min_cut = min_cut
        self.trend_rate = trend_rate
        self.min_scale = min_scale

    def _apply(self, w, rng, batch, i) -> None:
        T, C = w.shape
        donor = batch[int(rng.integers(len(batch)))]
        length = min(T, max(int(np.ceil(self.min_cut * T)), int(rng.uniform() * T), 2))
        src, dst = (int(rng.integers(0, T - length + 1)) for _ in range(2))
        channels = _subset(rng, C)
        slope = rng.choice([-1.0, 1.0], size=len(channels)) * rng.uniform(0, self.trend_rate, size=len(channels))
        slope = slope * channel_scale(donor, self.min_scale)[channels]
        piece = donor[src : src + length][:, channels] + np.arange(length)[:, None] * slope[None, :]
        w[dst : dst + length, channels] = piece


@GENERATORS.register("ncad")
class NCADInjection(_RuleGenerator):
    """NCAD-style synthetic anomalies (Carmona et al., 2021): contextual outlier exposure or point outliers.

    NCAD splits a window into a context and a *suspect window* (its last ``suspect_length`` T steps) and
    makes anomalous training windows in two ways, used here with probability ``coe_prob`` and
    ``1 - coe_prob``:

    - COE (contextual outlier exposure): a suffix ``[s, T)`` covering the suspect window (s uniform in
      [0, T - S]) is swapped in from another window of the batch, on 1 .. max(1, D // 2) channels;
    - point outliers: 1 .. ``max_points`` steps of the suspect window get a spike of
      ``sign * U(*spike)`` times the channel's inter-quartile range in the window (floored like
      ``channel_scale``), on the same kind of channel subset.

    A COE swap that changes nothing (a one-window batch, identical donor) falls back to point outliers.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "coe_prob": [Interval(float, 0.0, 1.0)],
        "suspect_length": [Interval(float, 0.0, 1.0, "right")],
        "max_points": [Interval(int, 1, None)],
        "spike": [tuple, list],
    }

    def __init__(
        self,
        coe_prob: float = 0.5,
        suspect_length: float = 0.1,
        max_points: int = 3,
        spike: tuple[float, float] = (0.5, 3.0),
        min_scale: float = 0.1,
    ) -> None:
        self.coe_prob = coe_prob
        self.suspect_length = suspect_length
        self.max_points = max_points
        self.spike = spike
        self.min_scale = min_scale

    def _validate(self) -> None:
        if not 0 < self.spike[0] <= self.spike[1]:
            raise ValueError(f"NCADInjection: spike must be (lo, hi) with 0 < lo <= hi, got {self.spike}")

    def _apply(self, w, rng, batch, i) -> None:
        T, C = w.shape
        S = min(T, max(1, int(round(self.suspect_length * T))))
        if rng.uniform() < self.coe_prob and len(batch) > 1:
            start = int(rng.integers(0, T - S + 1))
            channels = _subset(rng, C)
            for _ in range(5):  # a batch may repeat a window (n_per_window > 1): look for a different donor
                j = int(rng.integers(len(batch) - 1))
                donor = batch[j + (j >= i)][start:, channels]
                if not np.array_equal(donor, w[start:, channels]):
                    w[start:, channels] = donor
                    return
        channels = _subset(rng, C)
        n = int(rng.integers(1, min(int(self.max_points), S) + 1))
        steps = T - S + rng.choice(S, size=n, replace=False)
        q75, q25 = np.percentile(w[:, channels], [75, 25], axis=0)
        iqr = np.where(q75 > q25, q75 - q25, channel_scale(w, self.min_scale)[channels])
        size = rng.choice([-1.0, 1.0], size=(n, len(channels))) * rng.uniform(*self.spike, size=(n, len(channels)))
        w[np.ix_(steps, channels)] += size * iqr[None, :]
