"""``evaluate``: every headline metric of one score series in a single, fast call."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_labels_scores
from .affiliation import affiliation
from .pate import pate
from .point import aupr, auroc, best_f1, best_pa_f1
from .range_based import range_precision_recall_f1
from .vus import vus

__all__ = ["HEADLINE_KEYS", "evaluate"]

#: Keys of the dict returned by :func:`evaluate` (besides ``"sliding_window"``), headline first.
HEADLINE_KEYS = (
    "vus_pr",
    "vus_roc",
    "aupr",
    "auroc",
    "best_f1",
    "best_f1_precision",
    "best_f1_recall",
    "best_f1_threshold",
    "pa_f1",
    "affiliation_precision",
    "affiliation_recall",
    "affiliation_f1",
    "range_f1",
    "pate",
)

DEFAULT_SLIDING_WINDOW = 100


def evaluate(
    y_true: ArrayLike,
    y_score: ArrayLike,
    sliding_window: int | None = None,
    n_thresholds: int = 250,
) -> dict[str, float]:
    """All headline metrics of one score series.

    * ``vus_pr`` / ``vus_roc``: TSB-AD 1.5 VUS (:func:`~anomalyforge.metrics.vus.vus`), buffers 0..W.
    * ``aupr`` (average precision) / ``auroc``.
    * ``best_f1`` (+ its precision, recall, threshold): best point-wise F1 over all thresholds, no point
      adjustment. ORACLE: the threshold is chosen with the test labels.
    * ``pa_f1``: best point-adjusted F1 over all thresholds (oracle and INFLATED; never report alone).
    * ``affiliation_*`` and ``range_f1`` (Tatbul et al., TSB-AD settings: alpha 0.2, flat bias): computed
      on the binary prediction ``y_score >= best_f1_threshold``, i.e. with the same ORACLE threshold.
    * ``pate``: PATE with early = delay = W, swept over {0, W} per side (the authors' default grid).

    Args:
        y_true: labels of shape (n,), 0/1.
        y_score: scores of shape (n,), finite, higher = more anomalous.
        sliding_window: W, the VUS maximal buffer and the PATE buffer. None means 100, the default of
            TSB-AD's ``get_metrics``. To follow the TSB-AD protocol exactly, pass the period of the test
            series: ``sliding_window=estimate_sliding_window(X_test)``.
        n_thresholds: thresholds used by VUS and PATE (250 as in TSB-AD and PATE).

    Returns:
        dict with the :data:`HEADLINE_KEYS` (floats) and ``"sliding_window"`` (the W used). When
        ``y_true`` has no anomaly every metric is NaN (undefined); a harness should skip such series or
        average with ``np.nanmean``. When it has no normal point, ``auroc`` and VUS are NaN.

    Raises:
        ValueError: lengths differ, scores are not finite, or labels are not 0/1.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    window = DEFAULT_SLIDING_WINDOW if sliding_window is None else int(sliding_window)
    out: dict[str, float] = dict.fromkeys(HEADLINE_KEYS, float("nan"))
    out["sliding_window"] = window
    if not labels.any():
        return out  # no anomaly: every metric is undefined
    volume = vus(labels, scores, window, n_thresholds)
    best = best_f1(labels, scores)
    preds = (scores >= best.threshold).astype(np.int8)
    aff = affiliation(labels, preds)
    out.update(
        vus_pr=volume.pr,
        vus_roc=volume.roc,
        aupr=aupr(labels, scores),
        auroc=auroc(labels, scores),
        best_f1=best.f1,
        best_f1_precision=best.precision,
        best_f1_recall=best.recall,
        best_f1_threshold=best.threshold,
        pa_f1=best_pa_f1(labels, scores).f1,
        affiliation_precision=aff.precision,
        affiliation_recall=aff.recall,
        affiliation_f1=aff.f1,
        range_f1=range_precision_recall_f1(labels, preds).f1,
        pate=pate(labels, scores, early=window, delay=window, n_thresholds=n_thresholds),
    )
    return out

