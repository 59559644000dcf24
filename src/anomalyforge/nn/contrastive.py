"""Positive-pair KL objectives shared by the two-view contrastive detectors (DConAD, TransDe).

Both methods learn two *views* of every time step of a window, each a probability distribution over some
axis (DConAD: the model dimensions; TransDe: the window's steps), and align them with Kullback-Leibler
divergences under stop-gradient, without negative pairs. The functions here are pure: (..., K)
distributions in, per-step divergences or a scalar loss out. A view need not be stored cell by cell: the
objective and the criterion take the divergence as an argument (``kl``), so a network whose views are
products of two small factors (TransDe's ``product_kl``) never expands them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["EPS", "Divergence", "kl_rows", "normalise_rows", "asynchronous_kl_loss", "view_discrepancy"]

#: added inside the logarithms, as both papers' code does, so that empty cells stay finite
EPS = 1e-4

#: ``kl(p, q)``: two views (..., K) -> (...) the divergence KL(p || q) per position
Divergence = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def normalise_rows(x: torch.Tensor) -> torch.Tensor:
    """Non-negative (..., K) rows scaled to sum to 1 over the last axis."""
    return x / x.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def kl_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of (..., K) distributions over the last axis -> (...)."""
    return (p * (torch.log(p + EPS) - torch.log(q + EPS))).sum(dim=-1)


def asynchronous_kl_loss(series: torch.Tensor, prior: torch.Tensor, kl: Divergence = kl_rows) -> torch.Tensor:
    """The asynchronous stop-gradient objective over two views, a scalar.

    ``L_prior = KL(prior || sg(series)) + KL(sg(series) || prior)`` pulls the prior view to the (frozen)
    series view; ``L_series = KL(series || sg(prior)) + KL(sg(prior) || series)`` is the same discrepancy
    seen from the series view, with the prior frozen. The loss is ``L_prior - L_series``: each view gets a
    gradient from one term only, never from both ends of one divergence at once. Its *value* is always 0
    (the two terms are the same symmetric divergence); only the gradients differ, so it cannot rank epochs.

    Args:
        series, prior: the two views, (..., K) distributions over the last axis by default.
        kl: the divergence of two views (default ``kl_rows``).

    Returns:
        the mean over all leading positions of ``L_prior - L_series``.
    """
    s_sg, p_sg = series.detach(), prior.detach()
    prior_term = kl(prior, s_sg) + kl(s_sg, prior)
    series_term = kl(series, p_sg) + kl(p_sg, series)
    return (prior_term - series_term).mean()


def view_discrepancy(series: torch.Tensor, prior: torch.Tensor, kl: Divergence = kl_rows) -> torch.Tensor:
    """The anomaly criterion: ``KL(series || prior) + KL(prior || series)`` per position, (..., K) -> (...).

    Normal steps, seen in training, have views that agree; a step whose views disagree is anomalous.
    """
    return kl(series, prior) + kl(prior, series)
