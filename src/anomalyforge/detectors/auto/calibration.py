"""Scores -> upper-tail p-values against a detector's scores on normal held-out steps, and their combination.

A member's null is its scores on the normal steps of the validation stretch (never seen in fitting). The
p-value of a score is read from the null's quantiles (101 of them, linear between) up to the null's 90 %
quantile ``u``, and beyond it from an exponential tail ``0.1 exp(-(s - u) / beta)`` with ``beta`` the mean
excess over ``u``: a plain empirical p-value would give every score above the null's maximum the same
p-value, and ties at the top are exactly what VUS-PR punishes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_tail_calibration", "neg_log_p", "combine_scores"]

_PROBS = np.linspace(0.0, 1.0, 101)
_TAIL = 90  # index of the 90 % quantile in _PROBS


def fit_tail_calibration(null_scores: np.ndarray) -> np.ndarray:
    """(103,) calibration of one member: 101 null quantiles, then ``u`` and ``beta`` of the tail."""
    null = np.asarray(null_scores, dtype=np.float64).ravel()
    q = np.quantile(null, _PROBS)
    u = q[_TAIL]
    excess = null[null > u] - u
    spread = float(np.std(null))
    beta = float(excess.mean()) if excess.size else 0.0
    beta = max(beta, 1e-6 * max(spread, abs(u), 1e-12), 1e-12)
    return np.concatenate([q, [u, beta]])


def neg_log_p(scores: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """(n,) ``-log p`` of each score under one member's calibration (continuous, non-decreasing in the score)."""
    q, u, beta = calibration[:101], calibration[101], calibration[102]
    s = np.asarray(scores, dtype=np.float64)
    # below u: p = 1 - F(s) with F linear between distinct quantiles (>= 0.1 there)
    qs, idx = np.unique(q[: _TAIL + 1], return_index=True)
    cdf = np.interp(s, qs, _PROBS[: _TAIL + 1][idx], left=0.0, right=_PROBS[_TAIL])
    body = -np.log1p(-np.minimum(cdf, _PROBS[_TAIL]))
    tail = -np.log1p(-_PROBS[_TAIL]) + (s - u) / beta
    return np.where(s > u, tail, body)


def combine_scores(neg_logs: np.ndarray, weights: np.ndarray, how: str) -> np.ndarray:
    """Combine (k, n) ``-log p`` of k members into (n,) scores.

    ``"fisher"``: the (weighted) Fisher statistic ``2 sum_k w_k (-log p_k)``; ``"mean_rank"``: the weighted
    mean of the members' null CDF values ``1 - p_k`` (rank averaging against the null).
    """
    w = np.asarray(weights, dtype=np.float64)[:, None]
    if how == "fisher":
        return 2.0 * (w * neg_logs).sum(axis=0) / w.sum()
    return (w * -np.expm1(-neg_logs)).sum(axis=0) / w.sum()
