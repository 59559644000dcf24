"""PATE: proximity-aware time-series anomaly evaluation (Ghorbani et al., KDD 2024).

Each true anomaly ``[s, e]`` (inclusive) gets an early buffer of up to ``early`` steps before it and a
delay buffer of up to ``delay`` steps after it. A delay buffer stops before the next anomaly (and at the
last step of the series); an early buffer starts after the previous anomaly's delay buffer. With ``c = (s + e) / 2``:

* a predicted point inside an anomaly is a true positive (weight 1);
* in a delay buffer ``[e + 1, q]``: TP weight ``(q - x) / (q - c)`` and FP weight 1 minus it;
* in an early buffer ``[r, s - 1]``: TP weight ``(x - r) / (c - r)`` and FP 1 minus it, but only when the
  anomaly itself is detected (at least one predicted point in it); otherwise the point is a plain FP;
* any other predicted point is a FP;
* a missed anomaly adds its length to FN. In a partly detected anomaly, with ``d`` = length of the
  first predicted run inside it, a missed point at offset ``p = x - s`` adds 1 if ``p <= d`` and else
  ``1 - ((d + 1) p - d (d + 1) / 2) / (L (L - 1) / 2)`` to FN (the farther from the onset, the cheaper).

Precision and recall follow from the summed weights. For continuous scores, PATE is the area under the
resulting precision-recall curve (trapezoid through (0, 1), points whose recall decreases are dropped),
over ``n_thresholds`` thresholds (percentiles of the score values where the point-wise true-positive
count changes), averaged over the buffer-size grid: sizes ``linspace(0, max, n_splits + 1)`` for early
and delay independently (``include_zero=True``; with the defaults: (0, 0), (0, D), (E, 0), (E, D)).
:func:`pate_fixed` uses the single pair (``early``, ``delay``).

This follows the authors' reference package (``pate``, which pins numpy < 2 and cannot be installed
here), vectorised over thresholds with cumulative sums: effective cost O(n log n + T * n_anomaly_points).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_labels_preds, check_labels_scores, segment_max, segments

__all__ = ["buffer_grid", "pate", "pate_f1", "pate_fixed"]


def buffer_grid(max_buffer: int, n_splits: int = 1, include_zero: bool = True) -> np.ndarray:
    """Buffer sizes swept by PATE: ``n_splits + 1`` (or ``n_splits`` without zero) evenly spaced ints."""
    if max_buffer < 0 or n_splits < 1:
        raise ValueError(f"need max_buffer >= 0 and n_splits >= 1, got {max_buffer} and {n_splits}")
    if include_zero:
        return np.linspace(0, max_buffer, n_splits + 1).astype(int)
    return np.linspace(max_buffer / n_splits, max_buffer, n_splits).astype(int)


def _count_at(sorted_desc_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of values >= each threshold, for values sorted in descending order."""
    return np.searchsorted(-sorted_desc_values, -thresholds, side="right")


class _SumAbove:
    """``sum(weights[values >= t])`` for every threshold t, for several weight vectors (one sort)."""

    def __init__(self, values: np.ndarray, thresholds: np.ndarray) -> None:
        self.order = np.argsort(-values, kind="mergesort")
        self.count = _count_at(values[self.order], thresholds)

    def __call__(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Weighted sums at each threshold (``weights=None``: counts)."""
        if weights is None:
            return self.count.astype(np.float64)
        return np.r_[0.0, np.cumsum(weights[self.order])][self.count]


def _weighted_at(values: np.ndarray, weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``sum(weights[values >= t])`` for every threshold t."""
    return _SumAbove(values, thresholds)(weights)


class _Anomalies:
    """Threshold-dependent quantities of the true anomalies that do not depend on the buffer sizes."""

    def __init__(self, labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> None:
        self.starts, self.ends = segments(labels)
        self.seg_max = segment_max(scores, self.starts, self.ends)
        lengths = (self.ends - self.starts + 1).astype(np.float64)
        self.hits = _weighted_at(scores[labels == 1], np.ones(int(labels.sum())), thresholds)
        self.missed = lengths.sum() - _weighted_at(self.seg_max, lengths, thresholds)
        self.partial = self._partial_fn(scores[labels == 1], lengths, thresholds)

    def _partial_fn(self, values: np.ndarray, lengths: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """FN weight of the missed points of partly detected anomalies, for every threshold.

        Args:
            values: scores of the anomaly points, concatenated in time order, shape (P,).
            lengths: anomaly lengths, shape (k,).
            thresholds: shape (T,).
        """
        seg_min = -segment_max(-values, *_concat_bounds(lengths))
        group = np.repeat(np.arange(lengths.size), lengths.astype(np.int64))
        offset0 = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
        rel = np.arange(values.size) - offset0[group]
        pairs = lengths * (lengths - 1) / 2
        out = np.zeros(thresholds.size)
        for j, t in enumerate(thresholds):
            partly = (self.seg_max >= t) & (seg_min < t)
            if not partly.any():
                continue
            pred = values >= t
            first = np.minimum.reduceat(np.where(pred, rel, values.size), offset0)
            not_pred = np.flatnonzero(~pred)
            nxt = np.searchsorted(not_pred, offset0 + first)
            run_end = np.where(nxt < not_pred.size, not_pred[np.minimum(nxt, not_pred.size - 1)], values.size)
            run = (np.minimum(run_end, offset0 + lengths) - (offset0 + first))[group]
            missed = ~pred & partly[group]
            with np.errstate(invalid="ignore", divide="ignore"):
                far = 1.0 - ((run + 1) * rel - run * (run + 1) / 2) / pairs[group]
            out[j] = np.where(rel <= run, 1.0, far)[missed].sum()
        return out


def _concat_bounds(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (starts, ends) of consecutive blocks of the given lengths."""
    ends = np.cumsum(lengths).astype(np.int64) - 1
    return ends - lengths.astype(np.int64) + 1, ends


def _precision_recall(
    scores: np.ndarray, thresholds: np.ndarray, anomalies: _Anomalies, early: int, delay: int
) -> tuple[np.ndarray, np.ndarray]:
    """PATE precision and recall at every threshold for one (early, delay) buffer pair."""
    n = scores.size
    starts, ends = anomalies.starts, anomalies.ends
    centers = (starts + ends) / 2.0
    post_end = np.minimum(ends + delay, np.r_[starts[1:], n] - 1)
    pre_start = np.maximum(np.maximum(starts - early, 0), np.r_[-1, post_end[:-1]] + 1)

    post_x, post_k = _ranges(ends + 1, post_end)
    post_w = (post_end[post_k] - post_x) / (post_end[post_k] - centers[post_k])
    pre_x, pre_k = _ranges(pre_start, starts - 1)
    pre_w = (pre_x - pre_start[pre_k]) / (centers[pre_k] - pre_start[pre_k])
    pre_v = scores[pre_x]
    pre_eff = np.minimum(pre_v, anomalies.seg_max[pre_k])  # credited only while the anomaly is detected

    post, credited, flagged = (_SumAbove(v, thresholds) for v in (scores[post_x], pre_eff, pre_v))
    post_tp, pre_tp = post(post_w), credited(pre_w)
    tp = anomalies.hits + post_tp + pre_tp
    n_pred = _count_at(np.sort(scores)[::-1], thresholds).astype(np.float64)
    fp = (
        (post() - post_tp)  # delay buffers: 1 - weight
        + (credited() - pre_tp)  # early buffers of detected anomalies: 1 - weight
        + (flagged() - credited())  # early buffers of undetected anomalies: plain FP
        + (n_pred - anomalies.hits - post() - flagged())  # outside every zone
    )
    fn = anomalies.missed + anomalies.partial
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
    return precision, recall


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated integer ranges ``[lo[k], hi[k]]`` (empty when hi < lo) and the range id of each point."""
    counts = np.maximum(hi - lo + 1, 0)
    owner = np.repeat(np.arange(lo.size), counts)
    offsets = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return (np.repeat(lo, counts) + offsets).astype(np.int64), owner


def _thresholds(labels: np.ndarray, scores: np.ndarray, n_thresholds: int | None) -> np.ndarray:
    """Distinct scores where the point-wise TP count changes, reduced to ``n_thresholds`` percentiles."""
    s_sorted = np.sort(scores)[::-1]
    order = np.argsort(-scores, kind="mergesort")
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), scores.size - 1]
    tps = np.cumsum(labels[order])[last]
    distinct = s_sorted[last]
    if tps.size > 2:
        keep = np.r_[True, (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), True]
        distinct = distinct[keep]
    if n_thresholds is None:
        return distinct
    return np.percentile(distinct, np.linspace(100, 0, int(n_thresholds)))


def _auc_pr(precision: np.ndarray, recall: np.ndarray) -> float:
    """Trapezoidal area through (recall 0, precision 1), skipping points where recall decreases."""
    precision = np.r_[1.0, precision]
    recall = np.r_[0.0, recall]
    keep = recall >= np.maximum.accumulate(recall)
    return float(np.trapezoid(precision[keep], recall[keep]))


def pate(
    y_true: ArrayLike,
    y_score: ArrayLike,
    early: int = 100,
    delay: int = 100,
    n_splits: int = 1,
    include_zero: bool = True,
    n_thresholds: int | None = 250,
) -> float:
    """PATE of continuous scores, averaged over a grid of buffer sizes (the paper's default version).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,).
        early: largest early (pre-anomaly) buffer; the PATE authors use the ACF period of the data,
            else 100.
        delay: largest delay (post-anomaly) buffer.
        n_splits: buffer sizes per side are ``buffer_grid(max, n_splits, include_zero)``.
        include_zero: include buffer size 0 in the grid.
        n_thresholds: number of thresholds (percentiles of the candidate thresholds); None = all of them.

    Returns:
        Mean PATE AUC-PR over all (early, delay) pairs of the grid, in [0, 1]; NaN when ``y_true`` has no
        positive label.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    if not labels.any():
        return float("nan")
    thresholds = _thresholds(labels, scores, n_thresholds)
    anomalies = _Anomalies(labels, scores, thresholds)
    values = [
        _auc_pr(*_precision_recall(scores, thresholds, anomalies, int(e), int(d)))
        for e in buffer_grid(early, n_splits, include_zero)
        for d in buffer_grid(delay, n_splits, include_zero)
    ]
    return float(np.mean(values))


def pate_fixed(
    y_true: ArrayLike, y_score: ArrayLike, early: int = 100, delay: int = 100, n_thresholds: int | None = 250
) -> float:
    """PATE of continuous scores with ONE fixed buffer pair (``early``, ``delay``), no sweep."""
    return pate(y_true, y_score, early, delay, n_splits=1, include_zero=False, n_thresholds=n_thresholds)


def pate_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    early: int = 100,
    delay: int = 100,
    n_splits: int = 1,
    include_zero: bool = True,
) -> float:
    """PATE F1 of a binary prediction, averaged over the buffer grid (see :func:`pate`).

    Returns:
        Mean F1 of PATE precision and recall over the (early, delay) pairs; NaN when ``y_true`` has no
        positive label.
    """
    labels, preds = check_labels_preds(y_true, y_pred)
    if not labels.any():
        return float("nan")
    scores = preds.astype(np.float64)
    thresholds = np.array([1.0])
    anomalies = _Anomalies(labels, scores, thresholds)
    f1s = []
    for e in buffer_grid(early, n_splits, include_zero):
        for d in buffer_grid(delay, n_splits, include_zero):
            (p,), (r,) = _precision_recall(scores, thresholds, anomalies, int(e), int(d))
            f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(f1s))
