"""TransDe's decomposition, factored views and divergence on tiny tensors (the contract is in test_common)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyforge.core.registry import make_detector
from anomalyforge.detectors.transde.model import TransDeNet, hp_smoother, moving_average_smoother, product_kl
from anomalyforge.nn.contrastive import kl_rows


def test_hp_filter_keeps_a_line_and_smooths_noise():
    S = hp_smoother(20, 100.0)
    line = torch.linspace(-1, 1, 20)
    assert torch.allclose(S @ line, line, atol=1e-4)  # second differences of a line are 0
    noise = torch.randn(20, generator=torch.Generator().manual_seed(0))
    assert (S @ noise).std() < noise.std()


def test_moving_average_keeps_constants():
    S = moving_average_smoother(9, 3)
    assert torch.allclose(S.sum(dim=1), torch.ones(9))
    assert torch.allclose(S[4, 3:6], torch.full((3,), 1 / 3))


def test_product_kl_equals_kl_of_the_expanded_rows():
    g = torch.Generator().manual_seed(0)
    K, M, R = 2, 5, 3
    p = torch.rand(4, K, M, generator=g)
    p = p / (R * p.sum(dim=(-1, -2), keepdim=True))
    q = torch.rand(4, K, R, generator=g)
    q = q / (M * q.sum(dim=(-1, -2), keepdim=True))
    P = p[..., :, None].expand(4, K, M, R).reshape(4, -1)
    Q = q[..., None, :].expand(4, K, M, R).reshape(4, -1)
    assert torch.allclose(P.sum(-1), torch.ones(4)) and torch.allclose(Q.sum(-1), torch.ones(4))
    assert torch.allclose(product_kl(p, q), kl_rows(P, Q), atol=1e-5)
    assert torch.allclose(product_kl(q, p), kl_rows(Q, P), atol=1e-5)


def test_views_have_one_pair_per_patch_size_layer_and_head_and_sum_to_one():
    torch.manual_seed(0)
    net = TransDeNet(2, 12, (2, 3), d_model=8, n_heads=2, n_layers=2, dropout=0.0, smoother=hp_smoother(12, 10.0))
    pairs = net(torch.randn(3, 12, 2))
    assert len(pairs) == 2 * 2 * 2
    for (series, prior), p in zip(pairs, [2] * 4 + [3] * 4, strict=True):
        assert series.shape == (3, 12, 2, 12 // p) and prior.shape == (3, 12, 2, p)
        # expanded over the 2L cells each row sums to 1: the patch row repeats over p positions and back
        assert torch.allclose(p * series.sum(dim=(-1, -2)), torch.ones(3, 12), atol=1e-5)
        assert torch.allclose((12 // p) * prior.sum(dim=(-1, -2)), torch.ones(3, 12), atol=1e-5)


@pytest.mark.parametrize("sizes", [(5,), (1, 2), (16,)])
def test_patch_sizes_that_do_not_fit_the_window_raise(sizes):
    det = make_detector("transde", window=16, patch_sizes=sizes, d_model=8, epochs=1)
    with pytest.raises(ValueError, match="do not fit window=16"):
        det.fit(np.random.default_rng(0).normal(size=(80, 2)))
