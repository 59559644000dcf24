"""Input validation and event helpers shared by the metric modules.

Every metric in :mod:`anomalyforge.metrics` takes ``(y_true, y_score)`` or ``(y_true, y_pred)`` in this
order, like scikit-learn. ``y_true`` is a 1-D array of 0/1 labels (bool, int or float 0./1.), one per time
step; ``y_score`` is a 1-D array of finite floats of the same length, higher = more anomalous.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["NO_POSITIVES", "check_binary", "check_labels_preds", "check_labels_scores", "segment_max", "segments"]

#: Reason attached (in docstrings and ``evaluate``) to the NaN returned when ``y_true`` has no anomaly.
NO_POSITIVES = "y_true has no positive label: the metric is undefined (NaN)"


def check_binary(values: ArrayLike, name: str) -> np.ndarray:
    """Validate a 1-D 0/1 array and return it as ``int8``.

    Args:
        values: array-like of shape (n,), entries in {0, 1} (bools accepted).
        name: argument name used in error messages.

    Returns:
        ndarray of shape (n,), dtype int8.

    Raises:
        ValueError: if the array is not 1-D, is empty, or holds anything other than 0 and 1.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per time step), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass one value per time step")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric 0/1 labels, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        example = arr[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"{name} must contain only 0 and 1, found {example!r} ({int(bad.sum())} bad values); "
            "binarise labels (e.g. y > 0) before calling the metric"
        )
    return arr.astype(np.int8)


def check_labels_scores(
    y_true: ArrayLike, y_score: ArrayLike, score_name: str = "y_score"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(y_true, y_score)`` and return ``(int8 labels, float64 scores)``.

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,), finite floats.
        score_name: argument name used in error messages.

    Returns:
        (labels of shape (n,) int8, scores of shape (n,) float64).

    Raises:
        ValueError: on different lengths, non-finite scores, or labels that are not 0/1.
    """
    labels = check_binary(y_true, "y_true")
    scores = np.asarray(y_score, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"{score_name} must be 1-D (one score per time step), got shape {scores.shape}")
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(
            f"y_true has {labels.shape[0]} time steps but {score_name} has {scores.shape[0]}; "
            "they must be aligned one to one"
        )
    if not np.all(np.isfinite(scores)):
        n_bad = int((~np.isfinite(scores)).sum())
        raise ValueError(
            f"{score_name} contains {n_bad} NaN or infinite values; replace them (e.g. with the minimum "
            "score) before evaluating"
        )
    return labels, scores


def check_labels_preds(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate two aligned 0/1 arrays (ground truth and binary prediction).

    Returns:
        (labels of shape (n,) int8, predictions of shape (n,) int8).
    """
    labels = check_binary(y_true, "y_true")
    preds = check_binary(y_pred, "y_pred")
    if preds.shape[0] != labels.shape[0]:
        raise ValueError(
            f"y_true has {labels.shape[0]} time steps but y_pred has {preds.shape[0]}; "
            "they must be aligned one to one"
        )
    return labels, preds


def segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of ones in a 0/1 array.

    Args:
        mask: array of shape (n,), 0/1.

    Returns:
        (starts, ends), each of shape (k,) int64, with *inclusive* ends: run i covers
        ``mask[starts[i] : ends[i] + 1]``.
    """
    padded = np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return edges[0::2].astype(np.int64), (edges[1::2] - 1).astype(np.int64)


def segment_max(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Maximum of ``values`` over each inclusive range ``[starts[i], ends[i]]``.

    Args:
        values: array of shape (n,).
        starts, ends: arrays of shape (k,), sorted, non-overlapping, inclusive ends.

    Returns:
        ndarray of shape (k,) (empty when k == 0).
    """
    if starts.size == 0:
        return np.empty(0, dtype=np.float64)
    padded = np.append(np.asarray(values, dtype=np.float64), -np.inf)
    bounds = np.column_stack([starts, ends + 1]).ravel()
    return np.maximum.reduceat(padded, bounds)[0::2]
