"""Rule-based anomaly injectors: CARLA's five types and their random mix (CutAddPaste, NCAD: ``mixing``).

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
instead, so generation never depends on the base class's redraws. The batch-mixing injectors CutAddPaste
and NCAD, built on the same ``_RuleGenerator``, are in ``anomalyforge.generators.mixing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from anomalyforge.core.base import BaseGenerator, GeneratorTags
from anomalyforge.core.registry import GENERATORS
from anomalyforge.core.validation import Interval

__all__ = [
    "CARLA_TYPES", "channel_scale", "apply_seasonal", "apply_trend", "apply_points", "apply_shapelet",
    "SeasonalAnomaly", "TrendAnomaly", "GlobalAnomaly", "ContextualAnomaly", "ShapeletAnomaly", "CarlaRules",
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


_FRACTION = [Interval(float, 0.0, 1.0, "right")]
_SEGMENT = {"min_length": _FRACTION, "max_length": _FRACTION}


def _check_fractions(owner: object, min_length: float, max_length: float) -> None:
    if not min_length <= max_length:
        raise ValueError(
            f"{type(owner).__name__}: need 0 < min_length <= max_length <= 1 (fractions of the window), "
            f"got min_length={min_length}, max_length={max_length}"
        )


class _RuleGenerator(BaseGenerator):
    """Shared loop: apply ``_apply`` to each window; windows it leaves unchanged get the trend rule."""

    tags = GeneratorTags(requires_training=False, multivariate=True, min_window=4)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"min_scale": [Interval(float, 0.0, None, "neither")]}
    min_scale: float = 0.1

    def _validate(self) -> None:
        """Check what single-parameter constraints cannot (one parameter against another)."""

    def _apply(self, window: np.ndarray, rng: np.random.Generator, batch: np.ndarray, i: int) -> None:
        """Change ``window`` (row ``i`` of the untouched ``batch``, shape (T, C)) in place."""
        raise NotImplementedError

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self._validate()
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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {**_SEGMENT, "compression": [tuple, list]}

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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_SEGMENT, "mean": [Interval(float)], "std": [Interval(float, 0.0, None)]
    }

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

    def _apply(self, w, rng, batch, i) -> None:
        _trend_rule(w, rng, self.min_length, self.max_length, self.mean, self.std, self.min_scale)


class _PointRule(_RuleGenerator):
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_points": [Interval(int, 1, None)], "factor": [Interval(float, 1.0, None, "neither")]
    }

    def __init__(self, n_points: int = 3, factor: float = 8.0, min_scale: float = 0.1) -> None:
        self.n_points = n_points
        self.factor = factor
        self.min_scale = min_scale

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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_SEGMENT, "noise": [Interval(float, 0.0, None, "neither")]
    }

    def __init__(
        self, min_length: float = 0.1, max_length: float = 0.9, noise: float = 0.1, min_scale: float = 0.1
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.noise = noise
        self.min_scale = min_scale

    def _validate(self) -> None:
        _check_fractions(self, self.min_length, self.max_length)

    def _apply(self, w, rng, batch, i) -> None:
        _shapelet_rule(w, rng, self.min_length, self.max_length, self.noise, self.min_scale)


@GENERATORS.register("rules")
class CarlaRules(_RuleGenerator):
    """CARLA's injection: each window gets one of the five types (``types``), chosen uniformly at random."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_SEGMENT,
        "types": [tuple, list],
        "global_factor": [Interval(float, 1.0, None, "neither")],
        "contextual_factor": [Interval(float, 1.0, None, "neither")],
    }

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
