"""Which channels made a flagged interval anomalous: one attribution vector per interval, for every detector.

``channel_attribution(detector, X, start, end)`` returns a (n_channels,) vector, non-negative and summing to
1 when any entry is positive. It scores only the slice of X around the interval (the interval plus the
detector's ``context_steps()`` on either side), never the whole series:

- a detector tagged ``channel_scores`` gives its own decomposition (``BaseDetector.channel_scores``): the
  attribution of a channel is its mean part over the interval's steps;
- any other detector is probed by **channel occlusion**: channel c is replaced, over the whole slice (every
  window covering the interval, context included), by the detector's ``channel_baseline()`` (the training
  mean: 0 in standardised units); the attribution of c is the drop of the mean score over the interval,
  floored at 0. The unchanged slice and its C occluded copies are scored together as one series laid end to
  end (a step's score depends only on the steps within ``context_steps()`` of it, so the interval's steps of
  each copy see only that copy; a copy is padded to a multiple of the scoring stride), in chunks of at most
  ``max_batch_steps`` steps.

An interval longer than ``max_steps`` is attributed on its central ``max_steps`` steps (an occlusion costs
C + 1 scorings of the slice).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anomalyforge.core.base import BaseDetector
from anomalyforge.core.validation import check_is_fitted, check_series
from anomalyforge.core.windows import WindowDetector

__all__ = ["channel_attribution", "top_channels", "occlusion_drops"]


def _normalised(values: np.ndarray) -> np.ndarray:
    values = np.maximum(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0), 0.0)
    total = values.sum()
    return values / total if total > 0 else values


def occlusion_drops(
    detector: BaseDetector,
    piece: np.ndarray,
    a: int,
    b: int,
    *,
    baseline: np.ndarray | None = None,
    separate: bool = False,
    max_batch_steps: int = 200_000,
) -> np.ndarray:
    """Mean score drop over ``piece[a:b]`` when each channel of ``piece`` is replaced by its baseline value.

    Args:
        detector: a fitted detector.
        piece: (L, C) slice of a scored series, with context around the steps ``a:b``.
        a, b: the measured steps, ``a:b`` (end exclusive) in ``piece``.
        baseline: (C,) replacement values (default: ``detector.channel_baseline()``, else the median of piece).
        separate: score each copy on its own (needed when ``a`` or ``L - b`` is shorter than the context).
        max_batch_steps: at most this many steps per scoring call when copies are laid end to end.

    Returns:
        (C,) drops (can be negative: occluding a channel may raise the score).
    """
    L, C = piece.shape
    if baseline is None:
        baseline = detector.channel_baseline()
    if baseline is None:
        baseline = np.median(piece, axis=0)
    baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)

    stride = detector._window_spec().score_stride if isinstance(detector, WindowDetector) else 1
    if not separate and L % stride:  # every copy must start on a scored window: pad with the last step
        piece = np.concatenate([piece, np.repeat(piece[-1:], stride - L % stride, axis=0)])
        L = piece.shape[0]

    def copy(c: int) -> np.ndarray:
        if c < 0:
            return piece
        out = piece.copy()
        out[:, c] = baseline[c]
        return out

    order = list(range(-1, C))
    means = np.empty(C + 1)
    per_call = 1 if separate else max(1, max_batch_steps // L)
    for lo in range(0, len(order), per_call):
        chunk = order[lo : lo + per_call]
        scores = detector.anomaly_score(np.concatenate([copy(c) for c in chunk]))
        for i, c in enumerate(chunk):
            means[c + 1] = scores[i * L + a : i * L + b].mean()
    return means[0] - means[1:]


def channel_attribution(
    detector: BaseDetector,
    X: Any,
    start: int,
    end: int,
    *,
    context: int | None = None,
    max_steps: int = 2000,
    method: str = "auto",
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Share of each channel in the anomaly of the steps ``start..end`` (inclusive) of X.

    Args:
        detector: a fitted detector.
        X: (n_timesteps, n_channels) the scored series the detector saw.
        start, end: first and last step of the interval (inclusive), 0-based.
        context: steps of context on either side (default: ``detector.context_steps()``).
        max_steps: longer intervals are attributed on their central ``max_steps`` steps.
        method: ``"auto"`` (the model's decomposition when it has one, else occlusion), ``"model"`` or
            ``"occlusion"``.
        baseline: (C,) occlusion values (default: the detector's training mean).

    Returns:
        float64 (n_channels,), non-negative, summing to 1 unless every entry is 0.

    Raises:
        ValueError: an interval outside X, or ``method="model"`` for a detector without a decomposition.
    """
    check_is_fitted(detector)
    X = check_series(X, allow_nan=detector.tags.allow_nan)
    n, C = X.shape
    start, end = int(start), int(end)
    if not 0 <= start <= end < n:
        raise ValueError(f"interval {start}..{end} is not inside the series of {n} steps (0-based, end inclusive)")
    if method not in ("auto", "model", "occlusion"):
        raise ValueError(f"method={method!r}: choose auto, model or occlusion")
    if method == "model" and not detector.tags.channel_scores:
        raise ValueError(f"{type(detector).__name__} has no per-channel decomposition; use method='occlusion'")
    if end - start + 1 > max_steps:
        start = start + (end - start + 1 - max_steps) // 2
        end = start + max_steps - 1
    ctx = detector.context_steps() if context is None else int(context)
    lo, hi = max(0, start - ctx), min(n, end + ctx + 1)
    need = detector.min_series_length()
    while hi - lo < need and (lo > 0 or hi < n):  # a slice shorter than the detector accepts: widen it
        lo, hi = max(0, lo - need), min(n, hi + need)
    piece, a, b = X[lo:hi], start - lo, end - lo + 1
    if detector.tags.channel_scores and method != "occlusion":
        return _normalised(detector.channel_scores(piece)[a:b].mean(axis=0))
    separate = a < ctx or (hi - lo) - b < ctx  # at the series' edges a copy would see its neighbour
    return _normalised(occlusion_drops(detector, piece, a, b, baseline=baseline, separate=separate))


def top_channels(attribution: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` channels with the largest attribution, largest first (ties: lower index first).

    Channels with zero attribution are left out, so fewer than ``k`` may come back.
    """
    attribution = np.asarray(attribution, dtype=np.float64).reshape(-1)
    order = np.argsort(-attribution, kind="stable")[: max(int(k), 0)]
    return order[attribution[order] > 0]
