"""Evaluation metrics for time-series anomaly detection.

Every function takes ``(y_true, y_score)`` (continuous scores) or ``(y_true, y_pred)`` (0/1
predictions), arrays of shape (n,), in this order, like scikit-learn. Bad input (different lengths,
NaN/inf scores, labels other than 0/1) raises ``ValueError``; a ``y_true`` without any anomaly gives NaN
(the metric is undefined), so a benchmark harness can run on every series and skip NaNs when averaging.

Headline: :func:`vus_pr` (TSB-AD 1.5 VUS). :func:`evaluate` returns all headline metrics at once.
Oracle metrics (threshold chosen with the test labels): :func:`best_f1`, :func:`best_pa_f1` and the
threshold-dependent entries of :func:`evaluate`. Point-adjusted F1 is inflated by design.
"""

from .affiliation import Affiliation, affiliation
from .pate import buffer_grid, pate, pate_f1, pate_fixed
from .point import (
    BestF1,
    aupr,
    auroc,
    best_f1,
    best_pa_f1,
    pa_f1,
    point_adjust,
    precision_recall_f1,
)
from .range_based import RangePRF, range_precision_recall_f1
from .summary import HEADLINE_KEYS, evaluate
from .vus import VUS, estimate_sliding_window, vus, vus_pr, vus_roc

__all__ = [
    "HEADLINE_KEYS",
    "VUS",
    "Affiliation",
    "BestF1",
    "RangePRF",
    "affiliation",
    "aupr",
    "auroc",
    "best_f1",
    "best_pa_f1",
    "buffer_grid",
    "estimate_sliding_window",
    "evaluate",
    "pa_f1",
    "pate",
    "pate_f1",
    "pate_fixed",
    "point_adjust",
    "precision_recall_f1",
    "range_precision_recall_f1",
    "vus",
    "vus_pr",
    "vus_roc",
]
