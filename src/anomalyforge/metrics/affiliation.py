"""Affiliation precision / recall / F1 (Huet, Navarro and Rossi, KDD 2022).

Definition. A labelled point ``i`` is the interval ``[i, i + 1)``; true events are the maximal runs of
ones. Each true event ``J`` owns an *affiliation zone* ``E = [a, b]``: the time line is cut half-way
between consecutive true events (the first zone starts at 0, the last ends at ``n``). Predictions are
split by zone. In zone ``E`` of event ``J`` with predicted set ``I`` (its part of the predictions):

* individual precision = mean over predicted instants ``x`` in ``I`` of ``P(dist(X, J) >= dist(x, J))``,
  ``X`` uniform on ``E`` (1 inside ``J``); undefined (NaN) when ``I`` is empty;
* individual recall = mean over true instants ``y`` in ``J`` of ``P(|X - y| >= dist(y, I))``, ``X`` uniform
  on ``E`` (1 where ``y`` is predicted, 0 when ``I`` is empty).

Precision is the mean of the defined individual precisions (NaN if none is defined: no prediction at
all), recall the mean of all individual recalls, F1 their harmonic mean (0 when precision is NaN).

Implementation: every integrand above is piecewise linear with its kinks and jumps at multiples of 1/4
(events end on integers, zone borders on half-integers), so the trapezoid rule on a 1/4 grid gives the
exact integrals, vectorised over the whole series (O(n) memory and time). A test cross-checks it against
the reference code vendored in ``telemeval``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_labels_preds, segments

__all__ = ["Affiliation", "affiliation"]

_Q = 4  # grid steps per time step


class Affiliation(NamedTuple):
    """Affiliation precision, recall and F1."""

    precision: float
    recall: float
    f1: float


def _survival_precision(d: np.ndarray, before: np.ndarray, after: np.ndarray, width: np.ndarray) -> np.ndarray:
    """P(dist(X, J) >= d) for d > 0, X uniform on a zone with ``before``/``after`` room around J."""
    return (np.maximum(before - d, 0.0) + np.maximum(after - d, 0.0)) / width


def _survival_recall(y: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(|X - y| >= d) for d > 0, X uniform on [a, b]; 0 when d is infinite."""
    finite = np.isfinite(d)
    d = np.where(finite, d, 0.0)
    value = (np.maximum(y - d - a, 0.0) + np.maximum(b - y - d, 0.0)) / (b - a)
    return np.where(finite, value, 0.0)


def affiliation(y_true: ArrayLike, y_pred: ArrayLike) -> Affiliation:
    """Affiliation precision, recall and F1 of a binary prediction.

    Args:
        y_true: labels of shape (n,), 0/1.
        y_pred: predictions of shape (n,), 0/1.

    Returns:
        ``Affiliation(precision, recall, f1)``. All NaN when ``y_true`` has no positive label; precision
        NaN, recall 0 and F1 0 when ``y_pred`` has no positive.
    """
    labels, preds = check_labels_preds(y_true, y_pred)
    if not labels.any():
        return Affiliation(float("nan"), float("nan"), float("nan"))
    n = labels.size
    starts, ends = segments(labels)
    k = starts.size
    # Everything below is in grid units (1/4 time step). True event j is [s4[j], e4[j]).
    s4, e4 = _Q * starts, _Q * (ends + 1)
    borders = (s4[1:] + e4[:-1]) // 2  # integer: (start + stop) * 4 / 2
    zone_a = np.r_[0, borders].astype(np.float64)
    zone_b = np.r_[borders, _Q * n].astype(np.float64)

    n_seg = _Q * n
    seg = np.arange(n_seg)
    seg_zone = np.searchsorted(borders, seg, side="right")
    seg_pred = np.repeat(preds.astype(bool), _Q)

    # Individual precisions: integral over predicted grid segments of each zone.
    p_idx = seg[seg_pred]
    z = seg_zone[p_idx]
    inside = (p_idx >= s4[z]) & (p_idx + 1 <= e4[z])
    before, after, width = s4[z] - zone_a[z], zone_b[z] - e4[z], zone_b[z] - zone_a[z]
    ends_x = np.stack([p_idx, p_idx + 1]).astype(np.float64)
    d = np.maximum(np.maximum(s4[z] - ends_x, ends_x - e4[z]), 0.0)
    outside_value = _survival_precision(d, before, after, width).mean(axis=0)
    values = np.where(inside, 1.0, outside_value)
    pred_len = np.bincount(z, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        individual_p = np.bincount(z, weights=values, minlength=k) / pred_len
    precision = float(np.nanmean(individual_p)) if np.any(pred_len > 0) else float("nan")

    # Individual recalls: integral over each true event of the survival at the distance to the
    # nearest predicted instant of the same zone.
    last_left = np.maximum.accumulate(np.where(seg_pred, seg, -1))  # last predicted segment <= i
    next_right = np.minimum.accumulate(np.where(seg_pred, seg, n_seg)[::-1])[::-1]  # first >= i
    t_idx = np.concatenate([np.arange(a, b) for a, b in zip(s4, e4, strict=True)])
    t_zone = np.repeat(np.arange(k), e4 - s4)
    points = np.stack([t_idx, t_idx + 1])  # grid points at both ends of each true segment
    left = np.where(points >= 1, last_left[np.clip(points - 1, 0, None)], -1)
    right = np.where(points < n_seg, next_right[np.clip(points, None, n_seg - 1)], n_seg)
    left_ok = (left >= 0) & (seg_zone[np.clip(left, 0, None)] == t_zone)
    right_ok = (right < n_seg) & (seg_zone[np.clip(right, None, n_seg - 1)] == t_zone)
    d_left = np.where(left_ok, points - (left + 1), np.inf)
    d_right = np.where(right_ok, right - points, np.inf)
    dist = np.minimum(d_left, d_right).astype(np.float64)
    outside_value = _survival_recall(points.astype(np.float64), dist, zone_a[t_zone], zone_b[t_zone]).mean(axis=0)
    values = np.where(seg_pred[t_idx], 1.0, outside_value)
    individual_r = np.bincount(t_zone, weights=values, minlength=k) / (e4 - s4)
    recall = float(individual_r.mean())

    if np.isnan(precision) or precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return Affiliation(precision, recall, float(f1))
