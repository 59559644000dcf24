"""Range-based precision, recall and F1 (Tatbul et al., "Precision and Recall for Time Series", NeurIPS 2018).

For true ranges ``R_1..R_Nr`` and predicted ranges ``P_1..P_Np`` (maximal runs of ones):

* ``Recall = mean_i [alpha * Existence(R_i) + (1 - alpha) * Cardinality(R_i) * sum_j omega(R_i, R_i & P_j)]``
  with ``Existence = 1`` if ``R_i`` overlaps any prediction;
* ``Precision = mean_j [Cardinality(P_j) * sum_i omega(P_j, P_j & R_i)]`` (no existence term);
* ``omega(A, overlap) = sum_{t in overlap} delta(t) / sum_{t in A} delta(t)`` with the positional bias
  ``delta`` over the 1-based position t of a length-L range: ``flat`` 1, ``front`` L - t + 1, ``back`` t,
  ``middle`` t up to L / 2 and L - t + 1 after;
* ``Cardinality = 1`` when the range overlaps at most one range of the other side, else ``1 / x``
  (``"reciprocal"``, x = number of overlapped ranges) or 1 (``"one"``).

Defaults (``alpha=0.2``, flat bias, reciprocal cardinality) are TSB-AD's "R-based-F1" settings; Tatbul
et al. mostly report ``alpha=0``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_labels_preds, segments

__all__ = ["RangePRF", "range_precision_recall_f1"]

Bias = Literal["flat", "front", "back", "middle"]
Cardinality = Literal["reciprocal", "one"]


class RangePRF(NamedTuple):
    """Range-based precision, recall and F1."""

    precision: float
    recall: float
    f1: float


def _cumulative_bias(m: np.ndarray, length: np.ndarray, bias: Bias) -> np.ndarray:
    """``sum_{t=1..m} delta(t)`` for ranges of the given lengths (m in 0..length), as float64."""
    m = m.astype(np.float64)
    length = length.astype(np.float64)
    if bias == "flat":
        return m
    if bias == "back":
        return m * (m + 1) / 2
    if bias == "front":
        return m * (length + 1) - m * (m + 1) / 2
    if bias == "middle":
        half = np.floor(length / 2)
        rising = np.minimum(m, half)
        falling = np.maximum(m - half, 0)
        # positions half+1 .. half+falling carry weights L - t + 1
        falling_sum = falling * (length + 1) - ((half + falling) * (half + falling + 1) - half * (half + 1)) / 2
        return rising * (rising + 1) / 2 + falling_sum
    raise ValueError(f"bias must be 'flat', 'front', 'back' or 'middle', got {bias!r}")


def _range_scores(
    a_start: np.ndarray,
    a_end: np.ndarray,
    b_start: np.ndarray,
    b_end: np.ndarray,
    alpha: float,
    bias: Bias,
    cardinality: Cardinality,
) -> np.ndarray:
    """Per-range score of each range of A against the ranges of B (inclusive ends, sorted, disjoint).

    Returns:
        ndarray of shape (len(a_start),): ``alpha * existence + (1 - alpha) * cardinality * overlap``.
    """
    lo = np.searchsorted(b_end, a_start, side="left")  # first B range ending at or after the A start
    hi = np.searchsorted(b_start, a_end, side="right")  # first B range starting after the A end
    count = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(a_start.size), count)
    partner = np.repeat(lo, count) + (np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count))
    ov_start = np.maximum(a_start[owner], b_start[partner])
    ov_end = np.minimum(a_end[owner], b_end[partner])
    length = a_end - a_start + 1
    own_len = length[owner]
    weight = _cumulative_bias(ov_end - a_start[owner] + 1, own_len, bias) - _cumulative_bias(
        ov_start - a_start[owner], own_len, bias
    )
    omega = np.bincount(owner, weights=weight, minlength=a_start.size) / _cumulative_bias(length, length, bias)
    if cardinality == "reciprocal":
        factor = 1.0 / np.maximum(count, 1)
    elif cardinality == "one":
        factor = np.ones(a_start.size)
    else:
        raise ValueError(f"cardinality must be 'reciprocal' or 'one', got {cardinality!r}")
    return alpha * (count > 0) + (1.0 - alpha) * factor * omega


def range_precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    alpha: float = 0.2,
    bias: Bias = "flat",
    cardinality: Cardinality = "reciprocal",
    precision_bias: Bias | None = None,
) -> RangePRF:
    """Range-based precision, recall and F1 of a binary prediction (Tatbul et al. 2018).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_pred: predictions of shape (n,), 0/1.
        alpha: weight of the existence reward in recall, in [0, 1].
        bias: positional bias of recall's overlap reward: "flat", "front", "back" or "middle".
        cardinality: "reciprocal" (1 / number of overlapped ranges when more than one) or "one".
        precision_bias: positional bias for precision (default: "flat", as in Tatbul et al.).

    Returns:
        ``RangePRF(precision, recall, f1)``; all NaN when ``y_true`` has no positive label; precision 0
        when nothing is predicted.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    labels, preds = check_labels_preds(y_true, y_pred)
    if not labels.any():
        return RangePRF(float("nan"), float("nan"), float("nan"))
    r_start, r_end = segments(labels)
    p_start, p_end = segments(preds)
    recall = float(_range_scores(r_start, r_end, p_start, p_end, alpha, bias, cardinality).mean())
    if p_start.size == 0:
        precision = 0.0
    else:
        scores = _range_scores(p_start, p_end, r_start, r_end, 0.0, precision_bias or "flat", cardinality)
        precision = float(scores.mean())
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return RangePRF(precision, recall, float(f1))
