"""Rule-based anomaly injectors: CARLA's five types, their random mix, CutAddPaste and NCAD-style injection.

CARLA (Darban et al., 2025) makes negatives from a normal window with one of five hand-written rules. The
window's segment has a length drawn from U(0.1 T, 0.9 T) and a uniform start; the rule is applied to
between max(1, D // 10) and max(1, D // 2) distinct channels (CARLA's public code may pick 0 channels and
repeats channels; we do not). Choices of ours, where the description leaves room:

- *scale*: every magnitude is relative to the channel's standard deviation in the window. A channel that
  is constant in the window (std <= 1e-8 (1 + |mean|)) uses the absolute floor
  ``min_scale * max(1, |mean|)`` instead, so constant windows are still changed.
- *seasonal*: the segment is resampled ``k`` times faster (value i becomes value (i k) mod L), k drawn from
  ``compression``; only channels that vary inside the segment are eligible.
- *trend*: a level offset ``sign * max(|N(1, 0.5)|, 0.1) * scale`` is added from the segment start to the
  window's end (CARLA's "trend" is this step offset), one draw per channel.
- *global* / *contextual*: ``n_points`` consecutive steps move away from the channel's window mean by
  ``factor`` times their deviation (8 and 3); a deviation smaller than one scale counts as one scale (with
  its sign, a random sign at zero), so the moved points lie at least ``factor`` scales from the mean.
- *shapelet*: the segment is flattened to ``x[start] + U(0, noise) * scale`` per step.

Any window a rule leaves unchanged (e.g. seasonal on a window with no varying channel) gets the trend rule
instead, so generation never depends on the base class's redraws. CutAddPaste (Wang et al., KDD 2024) and
NCAD (Carmona et al., 2021) are described on their classes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from anomalyforge.base import BaseGenerator, GeneratorTags
from anomalyforge.registry import GENERATORS

__all__ = [
    "CARLA_TYPES", "channel_scale", "apply_seasonal", "apply_trend", "apply_points", "apply_shapelet",
    "SeasonalAnomaly", "TrendAnomaly", "GlobalAnomaly", "ContextualAnomaly", "ShapeletAnomaly", "CarlaRules",
    "CutAddPaste", "NCADInjection",
]

CARLA_TYPES = ("seasonal", "trend", "global", "contextual", "shapelet")


# ------------------------------------------------------------------------------------- pure operations
def channel_scale(window: np.ndarray, min_scale: float = 0.1) -> np.ndarray:
    """Per-channel scale of one window: its std, or ``min_scale * max(1, |mean|)`` where it is constant.

    Args:
        window: (T, C) window.
        min_scale: absolute floor used for channels that do not vary in the window.

    Returns:
        (C,) positive scales.
    """
    std, level = window.std(axis=0), np.abs(window.mean(axis=0))
    return np.where(std > 1e-8 * (1.0 + level), std, min_scale * np.maximum(1.0, level))


def apply_seasonal(window: np.ndarray, start: int, length: int, channels: np.ndarray, factor: int) -> None:
    """Resample ``window[start:start+length, channels]`` ``factor`` times faster, in place.

    Value i of the segment becomes value (i * factor) mod length (CARLA: tile the segment, keep every
    factor-th value).
    """
    idx = (np.arange(length) * int(factor)) % length
    seg = window[start : start + length][:, channels]
    window[start : start + length, channels] = seg[idx]


def apply_trend(window: np.ndarray, start: int, channels: np.ndarray, offsets: np.ndarray) -> None:
    """Add ``offsets`` (one per channel) to ``window[start:, channels]``, in place."""
    window[start:, channels] += offsets[None, :]


def apply_points(
    window: np.ndarray, start: int, n_points: int, channels: np.ndarray, factor: float, scale: np.ndarray,
    signs: np.ndarray,
) -> None:
    """Push ``n_points`` steps from ``start`` away from the channel mean by ``factor`` x their deviation, in place.

    Args:
        window: (T, C) window.
        start, n_points: the steps ``start .. start + n_points - 1``.
        channels: (k,) channel indices.
        factor: > 1; multiplier of the deviation from the window mean.
        scale: (C,) channel scales; smaller deviations count as one scale.
        signs: (n_points, k) signs used where a deviation is exactly zero.
    """
    mean = window[:, channels].mean(axis=0)
    seg = window[start : start + n_points, channels]
    dev = seg - mean
    sign = np.where(dev > 0, 1.0, np.where(dev < 0, -1.0, signs))
    dev = sign * np.maximum(np.abs(dev), scale[channels])
    window[start : start + n_points, channels] = mean + factor * dev


def apply_shapelet(window: np.ndarray, start: int, length: int, channels: np.ndarray, noise: np.ndarray) -> None:
    """Set ``window[start:start+length, channels]`` to ``window[start, channels] + noise`` (length, k), in place."""
    window[start : start + length, channels] = window[start, channels][None, :] + noise


# ---------------------------------------------------------------------------------------- random draws
def draw_channels(rng: np.random.Generator, n_channels: int, pool: np.ndarray | None = None) -> np.ndarray:
    """Between max(1, D // 10) and max(1, D // 2) distinct channels (from ``pool`` when given), sorted."""
    lo = max(1, n_channels // 10)
    hi = max(lo, n_channels // 2)
    k = int(rng.integers(lo, hi + 1))
    pool = np.arange(n_channels) if pool is None else np.asarray(pool)
    return np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False))


def draw_segment(rng: np.random.Generator, T: int, min_length: float, max_length: float) -> tuple[int, int]:
    """(start, length) with length uniform in [min_length T, max_length T] (at least 2 steps, at most T)."""
    lo = min(T, max(2, int(np.ceil(min_length * T))))
    hi = min(T, max(lo, int(np.floor(max_length * T))))
    length = int(rng.integers(lo, hi + 1))
    return int(rng.integers(0, T - length + 1)), length


def _check_fractions(owner: object, min_length: float, max_length: float) -> None:
    if not 0 < min_length <= max_length <= 1:
        raise ValueError(
            f"{type(owner).__name__}: need 0 < min_length <= max_length <= 1 (fractions of the window), "
            f"got min_length={min_length}, max_length={max_length}"
        )


class _RuleGenerator(BaseGenerator):
    """Shared loop: apply ``_apply`` to each window; windows it leaves unchanged get the trend rule."""

    tags = GeneratorTags(requires_training=False, multivariate=True, min_window=4)
    min_scale: float = 0.1

    def _validate(self) -> None:
        """Check the parameters; raise ``ValueError`` naming the bad one."""

    def _apply(self, window: np.ndarray, rng: np.random.Generator, batch: np.ndarray, i: int) -> None:
        """Change ``window`` (row ``i`` of the untouched ``batch``, shape (T, C)) in place."""
        raise NotImplementedError

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self._validate()
        if self.min_scale <= 0:
            raise ValueError(f"{type(self).__name__}: min_scale must be > 0, got {self.min_scale}")
        source = windows.copy()
        for i in range(len(windows)):
            self._apply(windows[i], rng, source, i)
            if np.array_equal(windows[i], source[i]):
                _trend_rule(windows[i], rng, 0.1, 0.9, 1.0, 0.5, self.min_scale)
        return windows


def _trend_rule(w, rng, min_length, max_length, mean, std, min_scale) -> None:
    start, _ = draw_segment(rng, w.shape[0], min_length, max_length)
    channels = draw_channels(rng, w.shape[1])
    magnitude = np.maximum(np.abs(rng.normal(mean, std, size=len(channels))), 0.1)
    signs = rng.choice([-1.0, 1.0], size=len(channels))
    apply_trend(w, start, channels, signs * magnitude * channel_scale(w, min_scale)[channels])


def _seasonal_rule(w, rng, min_length, max_length, compression, min_scale) -> None:
    start, length = draw_segment(rng, w.shape[0], min_length, max_length)
    seg = w[start : start + length]
    varying = np.flatnonzero(seg.max(axis=0) > seg.min(axis=0))
    if len(varying) == 0:
        return  # nothing to resample; the caller falls back to the trend rule
    channels = draw_channels(rng, w.shape[1], pool=varying)
    lo, hi = int(compression[0]), int(compression[1])
    apply_seasonal(w, start, length, channels, int(rng.integers(lo, hi + 1)))


def _points_rule(w, rng, n_points, factor, min_scale) -> None:
    n = min(int(n_points), w.shape[0])
    start = int(rng.integers(0, w.shape[0] - n + 1))
    channels = draw_channels(rng, w.shape[1])
    signs = rng.choice([-1.0, 1.0], size=(n, len(channels)))
    apply_points(w, start, n, channels, factor, channel_scale(w, min_scale), signs)


def _shapelet_rule(w, rng, min_length, max_length, noise, min_scale) -> None:
    start, length = draw_segment(rng, w.shape[0], min_length, max_length)
    channels = draw_channels(rng, w.shape[1])
    eps = rng.uniform(0.0, noise, size=(length, len(channels))) * channel_scale(w, min_scale)[channels]
    apply_shapelet(w, start, length, channels, eps)


# ------------------------------------------------------------------------------------- CARLA's types
@GENERATORS.register("seasonal")
class SeasonalAnomaly(_RuleGenerator):
    """CARLA seasonal anomaly: a segment of some channels resampled k times faster (k in ``compression``)."""

    def __init__(
        self, min_length: float = 0.1, max_length: float = 0.9, compression: tuple[int, int] = (2, 4),
        min_scale: float = 0.1,
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.compression = compression
        self.min_scale = min_scale

    def _validate(self) -> None:
        _check_fractions(self, self.min_length, self.max_length)
        lo, hi = self.compression
        if not 2 <= lo <= hi:
            raise ValueError(f"SeasonalAnomaly: compression must be (lo, hi), 2 <= lo <= hi; got {self.compression}")

    def _apply(self, w, rng, batch, i) -> None:
        _seasonal_rule(w, rng, self.min_length, self.max_length, self.compression, self.min_scale)


@GENERATORS.register("trend")
class TrendAnomaly(_RuleGenerator):
    """CARLA trend anomaly: +-|N(mean, std)| channel scales added from a segment start to the window end."""

    def __init__(
        self, min_length: float = 0.1, max_length: float = 0.9, mean: float = 1.0, std: float = 0.5,
        min_scale: float = 0.1,
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.mean = mean
        self.std = std
        self.min_scale = min_scale

    def _validate(self) -> None:
        _check_fractions(self, self.min_length, self.max_length)
        if self.std < 0:
            raise ValueError(f"TrendAnomaly: std must be >= 0, got {self.std}")

    def _apply(self, w, rng, batch, i) -> None:
        _trend_rule(w, rng, self.min_length, self.max_length, self.mean, self.std, self.min_scale)


class _PointRule(_RuleGenerator):
    def __init__(self, n_points: int = 3, factor: float = 8.0, min_scale: float = 0.1) -> None:
        self.n_points = n_points
        self.factor = factor
        self.min_scale = min_scale

    def _validate(self) -> None:
        if int(self.n_points) < 1 or self.factor <= 1:
            raise ValueError(
                f"{type(self).__name__}: need n_points >= 1 and factor > 1, got {self.n_points}, {self.factor}"
            )

    def _apply(self, w, rng, batch, i) -> None:
        _points_rule(w, rng, self.n_points, self.factor, self.min_scale)


@GENERATORS.register("global")
class GlobalAnomaly(_PointRule):
    """CARLA global anomaly: ``n_points`` consecutive steps pushed ``factor`` (8) x further from the channel mean."""


@GENERATORS.register("contextual")
class ContextualAnomaly(_PointRule):
    """CARLA contextual anomaly: ``n_points`` (5) consecutive steps pushed ``factor`` (3) x further from the mean."""

    def __init__(self, n_points: int = 5, factor: float = 3.0, min_scale: float = 0.1) -> None:
        super().__init__(n_points=n_points, factor=factor, min_scale=min_scale)


@GENERATORS.register("shapelet")
class ShapeletAnomaly(_RuleGenerator):
    """CARLA shapelet anomaly: a segment flattened to its first value plus U(0, ``noise``) channel scales."""

    def __init__(
        self, min_length: float = 0.1, max_length: float = 0.9, noise: float = 0.1, min_scale: float = 0.1
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.noise = noise
        self.min_scale = min_scale

    def _validate(self) -> None:
        _check_fractions(self, self.min_length, self.max_length)
        if self.noise <= 0:
            raise ValueError(f"ShapeletAnomaly: noise must be > 0, got {self.noise}")

    def _apply(self, w, rng, batch, i) -> None:
        _shapelet_rule(w, rng, self.min_length, self.max_length, self.noise, self.min_scale)


@GENERATORS.register("rules")
class CarlaRules(_RuleGenerator):
    """CARLA's injection: each window gets one of the five types (``types``), chosen uniformly at random."""

    def __init__(
        self,
        types: tuple[str, ...] = CARLA_TYPES,
        min_length: float = 0.1,
        max_length: float = 0.9,
        global_factor: float = 8.0,
        contextual_factor: float = 3.0,
        min_scale: float = 0.1,
    ) -> None:
        self.types = types
        self.min_length = min_length
        self.max_length = max_length
        self.global_factor = global_factor
        self.contextual_factor = contextual_factor
        self.min_scale = min_scale

    def _validate(self) -> None:
        _check_fractions(self, self.min_length, self.max_length)
        unknown = [t for t in self.types if t not in CARLA_TYPES]
        if not self.types or unknown:
            raise ValueError(f"CarlaRules: types must be a non-empty subset of {CARLA_TYPES}, got {self.types}")

    def _rules(self) -> dict[str, Callable[[np.ndarray, np.random.Generator], None]]:
        a, b, s = self.min_length, self.max_length, self.min_scale
        return {
            "seasonal": lambda w, r: _seasonal_rule(w, r, a, b, (2, 4), s),
            "trend": lambda w, r: _trend_rule(w, r, a, b, 1.0, 0.5, s),
            "global": lambda w, r: _points_rule(w, r, 3, self.global_factor, s),
            "contextual": lambda w, r: _points_rule(w, r, 5, self.contextual_factor, s),
            "shapelet": lambda w, r: _shapelet_rule(w, r, a, b, 0.1, s),
        }

    def _apply(self, w, rng, batch, i) -> None:
        self._rules()[self.types[int(rng.integers(len(self.types)))]](w, rng)


# ---------------------------------------------------------------------------------- batch-mixing rules
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

    def __init__(self, min_cut: float = 0.1, trend_rate: float = 0.01, min_scale: float = 0.1) -> None:
        self.min_cut = min_cut
        self.trend_rate = trend_rate
        self.min_scale = min_scale

    def _validate(self) -> None:
        if not 0 < self.min_cut <= 1 or self.trend_rate <= 0:
            raise ValueError(
                f"CutAddPaste: need 0 < min_cut <= 1 and trend_rate > 0, got {self.min_cut}, {self.trend_rate}"
            )

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
        if not 0 <= self.coe_prob <= 1 or not 0 < self.suspect_length <= 1 or int(self.max_points) < 1:
            raise ValueError(
                "NCADInjection: need 0 <= coe_prob <= 1, 0 < suspect_length <= 1 and max_points >= 1; got "
                f"{self.coe_prob}, {self.suspect_length}, {self.max_points}"
            )
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
