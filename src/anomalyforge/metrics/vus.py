"""Volume under the surface: VUS-ROC and VUS-PR (Paparrizos et al., VLDB 2022), as TSB-AD 1.5 computes it.

Definition (TSB-AD 1.5, ``get_metrics(..., version='opt', thre=250)``), for a maximal buffer ``W`` (the
"sliding window"):

* Thresholds: ``n_thresholds`` scores read from the descending-sorted scores at the evenly spaced ranks
  ``linspace(0, n - 1, n_thresholds).astype(int)``; prediction = ``score >= t``.
* For every buffer length ``w = 0, 1, ..., W`` (half-width ``h = w // 2``), each true anomaly range gets a
  soft label on ``h`` steps on each side: ``sqrt(1 - d / w)`` at distance ``d = 1..h`` (overlapping ramps add,
  then clip to 1). Within the extended ranges, the label of a normal point counts only where it is
  predicted; true anomaly points keep label 1.
* ``TP = sum(label * pred)``, ``P' = (P + sum(label)) / 2`` (P = number of anomaly points),
  ``recall = min(TP / P', 1)``, ``TPR = recall * existence`` where ``existence`` is the fraction of
  extended (and merged, when two extended ranges overlap) ranges containing at least one prediction,
  ``FPR = (n_pred - TP) / (n - P')``, ``precision = TP / n_pred``.
* Per ``w``: ROC area by the trapezoid rule through (0, 0), the thresholds' points and (1, 1); PR area as
  ``sum((TPR_j - TPR_{j-1}) * precision_j)`` with ``TPR_0 = 0``. VUS = mean over the ``W + 1`` buffers.

The implementation here is exact with respect to that definition (same thresholds, same buffers) but
vectorised: a normal point's soft label is 1 when two ramps cover it and the single ramp value otherwise,
so only the points within ``W // 2`` of an anomaly are visited, once per buffer length, through cumulative
sums over the score-sorted points; the existence term uses per-range prefix maxima of the scores. The cost
is O(n log n + W * (n_buffer + n_thresholds)), well under a second for n = 100k.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_labels_scores, segment_max, segments

__all__ = ["VUS", "estimate_sliding_window", "vus", "vus_pr", "vus_roc"]


class VUS(NamedTuple):
    """VUS-ROC and VUS-PR of one score series."""

    roc: float
    pr: float


def _side_prefix_max(scores: np.ndarray, anchors: np.ndarray, step: int, hmax: int) -> np.ndarray:
    """``out[k, h]`` = max of ``scores`` over the ``h`` steps beyond ``anchors[k]`` in direction ``step``.

    Returns:
        ndarray of shape (k, hmax + 1); column 0 (empty side) and out-of-series steps are -inf.
    """
    out = np.full((anchors.size, hmax + 1), -np.inf)
    if hmax == 0 or anchors.size == 0:
        return out
    positions = anchors[:, None] + step * np.arange(1, hmax + 1)[None, :]
    valid = (positions >= 0) & (positions < scores.size)
    values = np.where(valid, scores[np.clip(positions, 0, scores.size - 1)], -np.inf)
    out[:, 1:] = np.maximum.accumulate(values, axis=1)
    return out


def _neighbour_distances(
    labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, hmax: int
) -> tuple[np.ndarray, np.ndarray]:
    """Normal points within ``hmax`` of an anomaly and their distances to the two nearest ranges per side.

    Returns:
        (positions of shape (m,), distances of shape (4, m): nearest end on the left, second nearest end
        on the left, nearest start on the right, second nearest start on the right; inf if none).
    """
    pos = np.flatnonzero(labels == 0)
    k = starts.size
    kl = np.searchsorted(ends, pos, side="left") - 1  # last range ending before pos
    kr = np.searchsorted(starts, pos, side="left")  # first range starting after pos
    dist = np.full((4, pos.size), np.inf)
    for row, idx, sign, ref in ((0, kl, 1, ends), (1, kl - 1, 1, ends), (2, kr, -1, starts), (3, kr + 1, -1, starts)):
        ok = (idx >= 0) & (idx < k)
        dist[row, ok] = sign * (pos[ok] - ref[idx[ok]])
    near = np.minimum(dist[0], dist[2]) <= hmax
    return pos[near], dist[:, near]


def vus(
    y_true: ArrayLike, y_score: ArrayLike, sliding_window: int = 100, n_thresholds: int = 250
) -> VUS:
    """VUS-ROC and VUS-PR (TSB-AD 1.5 definition, see the module docstring).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,), higher = more anomalous.
        sliding_window: maximal buffer length ``W`` (buffers 0..W are averaged). TSB-AD sets it to the
            period estimated on the data (:func:`estimate_sliding_window`); its ``get_metrics`` default
            is 100.
        n_thresholds: number of thresholds (TSB-AD 1.5: 250).

    Returns:
        ``VUS(roc, pr)``; both NaN when ``y_true`` has no positive label or no negative label.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    if int(sliding_window) != sliding_window or sliding_window < 0:
        raise ValueError(f"sliding_window must be a non-negative integer, got {sliding_window!r}")
    if int(n_thresholds) != n_thresholds or n_thresholds < 1:
        raise ValueError(f"n_thresholds must be a positive integer, got {n_thresholds!r}")
    if not labels.any() or labels.all():
        return VUS(float("nan"), float("nan"))
    n, big_w, hmax = labels.size, int(sliding_window), int(sliding_window) // 2
    n_pos = float(labels.sum())
    starts, ends = segments(labels)

    ascending = np.sort(scores)
    thresholds = ascending[::-1][np.linspace(0, n - 1, int(n_thresholds)).astype(int)]
    n_pred = n - np.searchsorted(ascending, thresholds, side="left")
    tp_anomaly = n_pos - np.searchsorted(np.sort(scores[labels == 1]), thresholds, side="left")

    buf_pos, dist = _neighbour_distances(labels, starts, ends, hmax)
    order = np.argsort(-scores[buf_pos], kind="mergesort")
    # A normal point's soft label is 0 until the nearest ramp reaches it (h >= d1), then that ramp's
    # value, and 1 once a second ramp reaches it (h >= d2): two ramps sum to >= 2 sqrt(1/2) > 1.
    dist = np.sort(dist[:, order], axis=0)
    d1, d2 = dist[0], dist[1]
    n_buf_pred = buf_pos.size - np.searchsorted(np.sort(scores[buf_pos]), thresholds, side="left")

    seg_max = segment_max(scores, starts, ends)
    left_max = _side_prefix_max(scores, starts, -1, hmax)
    right_max = _side_prefix_max(scores, ends, 1, hmax)
    gaps = starts[1:] - ends[:-1]

    auc = np.empty(big_w + 1)
    ap = np.empty(big_w + 1)
    for w in range(big_w + 1):
        h = w // 2
        if h == 0:
            soft_tp = np.zeros(thresholds.size)
        else:
            soft = np.sqrt(np.maximum(1.0 - d1 / w, 0.0))
            soft[d1 > h] = 0.0
            soft[d2 <= h] = 1.0
            soft_tp = np.r_[0.0, np.cumsum(soft)][n_buf_pred]
        ext_max = np.maximum(seg_max, np.maximum(left_max[:, h], right_max[:, h]))
        group_starts = np.r_[0, np.flatnonzero(gaps > 2 * h) + 1]
        group_max = np.sort(np.maximum.reduceat(ext_max, group_starts))
        existence = (group_max.size - np.searchsorted(group_max, thresholds, side="left")) / group_max.size

        tp = tp_anomaly + soft_tp
        p_new = n_pos + soft_tp / 2.0
        tpr = np.minimum(tp / p_new, 1.0) * existence
        fpr = (n_pred - tp) / (n - p_new)
        precision = tp / n_pred
        x = np.r_[0.0, fpr, 1.0]
        y = np.r_[0.0, tpr, 1.0]
        auc[w] = np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0)
        ap[w] = np.sum(np.diff(np.r_[0.0, tpr]) * precision)
    return VUS(float(auc.mean()), float(ap.mean()))


def vus_roc(y_true: ArrayLike, y_score: ArrayLike, sliding_window: int = 100, n_thresholds: int = 250) -> float:
    """VUS-ROC (see :func:`vus`). Returns NaN when ``y_true`` has no positive label."""
    return vus(y_true, y_score, sliding_window, n_thresholds).roc


def vus_pr(y_true: ArrayLike, y_score: ArrayLike, sliding_window: int = 100, n_thresholds: int = 250) -> float:
    """VUS-PR, the headline metric (see :func:`vus`). Returns NaN when ``y_true`` has no positive label."""
    return vus(y_true, y_score, sliding_window, n_thresholds).pr


def estimate_sliding_window(x: ArrayLike, max_lag: int = 400, fallback: int = 125) -> int:
    """Period of a series from its autocorrelation, as TSB-AD's ``find_length_rank(rank=1)`` does.

    The ACF (biased, via FFT) of the first 20 000 steps is computed for lags 0..``max_lag``; among its
    strict local maxima at lags >= 4 the highest one is taken. Lags outside [6, 303] (TSB-AD's bounds
    after its base offset of 3), a constant series, or no local maximum give ``fallback``.

    Args:
        x: series of shape (n,) or (n, c); for several channels the FIRST channel is used (as in the
            TSB-AD scripts, which pass ``data[:, 0]``).
        max_lag: largest lag considered.
        fallback: value returned when no period is found (TSB-AD: 125).

    Returns:
        The estimated period, used as ``sliding_window`` for :func:`vus` and as the PATE buffer.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"x must have shape (n,) or (n, c), got {arr.shape}")
    arr = arr[:20000]
    if arr.size < 8 or not np.all(np.isfinite(arr)):
        return int(fallback)
    arr = arr - arr.mean()
    n_fft = 1 << int(2 * arr.size - 1).bit_length()
    spectrum = np.fft.rfft(arr, n_fft)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n_fft)[: max_lag + 1]
    if acov[0] <= 0:
        return int(fallback)
    acf = acov / acov[0]
    base = 3
    r = acf[base:]
    inner = np.flatnonzero((r[1:-1] > r[:-2]) & (r[1:-1] > r[2:])) + 1
    if inner.size == 0:
        return int(fallback)
    best = int(inner[np.argmax(r[inner])])
    if best < 3 or best > 300:
        return int(fallback)
    return best + base
