"""The two-view KL objective and criterion (nn.contrastive), on tiny tensors."""

from __future__ import annotations

import torch

from anomalyforge.nn.contrastive import asynchronous_kl_loss, kl_rows, normalise_rows, view_discrepancy


def _rows(seed: int, shape=(3, 4, 5)) -> torch.Tensor:
    return normalise_rows(torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) + 0.1)


def test_kl_rows_is_zero_on_equal_rows_and_positive_otherwise():
    p, q = _rows(0), _rows(1)
    assert torch.allclose(kl_rows(p, p), torch.zeros(3, 4), atol=1e-6)
    assert (kl_rows(p, q) > 0).all()
    assert (view_discrepancy(p, q) - (kl_rows(p, q) + kl_rows(q, p))).abs().max() < 1e-6


def test_asynchronous_loss_is_zero_in_value_and_moves_prior_to_series_and_series_away():
    series = _rows(0).requires_grad_(True)
    prior = _rows(1).requires_grad_(True)
    loss = asynchronous_kl_loss(series, prior)
    assert abs(float(loss.detach())) < 1e-6  # both terms are the same symmetric divergence
    loss.backward()
    step = 1e-2
    with torch.no_grad():
        moved_prior = normalise_rows((prior - step * prior.grad).clamp_min(1e-6))
        moved_series = normalise_rows((series - step * series.grad).clamp_min(1e-6))
        before = view_discrepancy(series, prior).mean()
        assert view_discrepancy(series, moved_prior).mean() < before  # prior pulled to the frozen series
        assert view_discrepancy(moved_series, prior).mean() > before  # series pushed from the frozen prior
