"""Point-wise metrics: AUROC, AUPR, best F1 (no point adjustment) and point-adjusted F1.

All functions take ``(y_true, y_score)`` (or ``(y_true, y_pred)`` for binary predictions), both of
shape (n,), like scikit-learn. When ``y_true`` has no anomaly the score-based metrics return NaN
(the quantity is undefined); a benchmark harness can keep the NaN and skip it when averaging.

Best-F1 is an *oracle* metric: the threshold is chosen with the test labels. It is reported because the
field does, never as a deployable operating point.

Point adjustment (PA) marks a whole true anomaly segment as detected as soon as one of its points is
flagged. It inflates F1 enormously (random scores on series with long segments reach "state of the art";
Kim et al., AAAI 2022), so PA-F1 is only given beside the unadjusted metrics, never alone.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

from ._checks import check_labels_preds, check_labels_scores, segment_max, segments

__all__ = [
    "BestF1",
    "auroc",
    "aupr",
    "best_f1",
    "best_pa_f1",
    "pa_f1",
    "point_adjust",
    "precision_recall_f1",
]


class BestF1(NamedTuple):
    """Best F1 over thresholds and the operating point reaching it (prediction = ``score >= threshold``)."""

    f1: float
    precision: float
    recall: float
    threshold: float


_NAN_BEST = BestF1(float("nan"), float("nan"), float("nan"), float("nan"))


def auroc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,), higher = more anomalous.

    Returns:
        AUROC in [0, 1]; NaN when ``y_true`` has no positive or no negative label (undefined).
    """
    labels, scores = check_labels_scores(y_true, y_score)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def aupr(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision (``average_precision_score``).

    This is what TSB-AD reports as AUC-PR (no trapezoidal interpolation).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,).

    Returns:
        AUPR in [0, 1]; NaN when ``y_true`` has no positive label.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    if not labels.any():
        return float("nan")
    return float(average_precision_score(labels, scores))


def _sorted_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds (descending) with the true- and false-positive counts at ``score >= t``."""
    order = np.argsort(-scores, kind="mergesort")
    s_sorted = scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(labels[order], dtype=np.int64)[last_of_tie]
    fp = last_of_tie + 1 - tp
    return s_sorted[last_of_tie], tp, fp


def best_f1(y_true: ArrayLike, y_score: ArrayLike) -> BestF1:
    """Best point-wise F1 over all thresholds, WITHOUT point adjustment (oracle threshold).

    Every distinct score value is tried as a threshold (prediction = ``score >= t``), which is what
    TSB-AD's "Standard-F1" does through ``precision_recall_curve`` (TSB-AD adds 1e-5 to the F1
    denominator; this function computes the exact F1).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,).

    Returns:
        ``BestF1(f1, precision, recall, threshold)``; all NaN when ``y_true`` has no positive label.
        Ties between thresholds are broken towards the highest threshold.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return _NAN_BEST
    thresholds, tp, fp = _sorted_counts(labels, scores)
    f1 = 2.0 * tp / (tp + fp + n_pos)
    k = int(np.argmax(f1))
    return BestF1(float(f1[k]), float(tp[k] / (tp[k] + fp[k])), float(tp[k] / n_pos), float(thresholds[k]))


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float, float]:
    """Point-wise precision, recall and F1 of a binary prediction.

    Args:
        y_true: labels of shape (n,), 0/1.
        y_pred: predictions of shape (n,), 0/1.

    Returns:
        (precision, recall, f1). Precision is 0 when nothing is predicted; all NaN when ``y_true`` has
        no positive label.
    """
    labels, preds = check_labels_preds(y_true, y_pred)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan"), float("nan"), float("nan")
    tp = int((labels & preds).sum())
    n_pred = int(preds.sum())
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_pos
    f1 = 2.0 * tp / (n_pred + n_pos)
    return float(precision), float(recall), float(f1)


def point_adjust(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Point adjustment: flag a whole true anomaly segment when any of its points is flagged.

    Args:
        y_true: labels of shape (n,), 0/1.
        y_pred: predictions of shape (n,), 0/1.

    Returns:
        Adjusted predictions of shape (n,), int8. Points outside true segments are unchanged.
    """
    labels, preds = check_labels_preds(y_true, y_pred)
    adjusted = preds.copy()
    for start, end in zip(*segments(labels), strict=True):
        if preds[start : end + 1].any():
            adjusted[start : end + 1] = 1
    return adjusted


def pa_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Point-adjusted F1 of a binary prediction (INFLATED by design; see the module docstring).

    Returns:
        F1 after :func:`point_adjust`; NaN when ``y_true`` has no positive label.
    """
    return precision_recall_f1(y_true, point_adjust(y_true, y_pred))[2]


def best_pa_f1(y_true: ArrayLike, y_score: ArrayLike) -> BestF1:
    """Best point-adjusted F1 over all thresholds (oracle threshold, INFLATED by design).

    Exact sweep over every distinct score value (TSB-AD sweeps 100 evenly spaced thresholds with
    ``score > t``, so its value can only be lower or equal).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,).

    Returns:
        ``BestF1(f1, precision, recall, threshold)`` of the adjusted prediction; all NaN when ``y_true``
        has no positive label.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return _NAN_BEST
    starts, ends = segments(labels)
    seg_max = segment_max(scores, starts, ends)
    lengths = ends - starts + 1
    thresholds, _, fp = _sorted_counts(labels, scores)
    order = np.argsort(-seg_max, kind="mergesort")
    cum_len = np.r_[0, np.cumsum(lengths[order])]
    # number of segments whose maximum is >= t, for every threshold t (seg_max ascending for searchsorted)
    n_detected = seg_max.size - np.searchsorted(np.sort(seg_max), thresholds, side="left")
    tp = cum_len[n_detected]
    f1 = 2.0 * tp / (2.0 * tp + fp + (n_pos - tp))
    k = int(np.argmax(f1))
    precision = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 0.0
    return BestF1(float(f1[k]), float(precision), float(tp[k] / n_pos), float(thresholds[k]))
