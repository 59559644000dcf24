"""DConAD's network pieces on tiny tensors (the detector contract is in test_common)."""

from __future__ import annotations

import pytest
import torch

from anomalyforge.core.registry import make_detector
from anomalyforge.detectors.dconad.model import Bilinear, DConADNet, difference


def test_bilinear_matches_torch_bilinear():
    torch.manual_seed(0)
    ours, ref = Bilinear(4, 5, 3), torch.nn.Bilinear(4, 5, 3)
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)
    a, b = torch.randn(2, 6, 4), torch.randn(2, 6, 5)
    assert torch.allclose(ours(a, b), ref(a, b), atol=1e-5)


def test_difference_and_views_shapes_and_rows():
    x = torch.randn(3, 10, 2)
    assert torch.equal(difference(x), x[:, 1:] - x[:, :-1])
    torch.manual_seed(0)
    net = DConADNet(n_channels=2, window=10, d_model=8, n_heads=2, n_layers=1, dropout=0.0).eval()
    (series, prior), *rest = net(x)
    assert not rest
    assert series.shape == prior.shape == (3, 10, 8)
    assert torch.allclose(series.sum(-1), torch.ones(3, 10), atol=1e-5)
    assert torch.allclose(prior.sum(-1), torch.ones(3, 10), atol=1e-5)


def test_differenced_view_sees_a_change_the_raw_view_alone_would_not():
    """The network reads the difference: a window and the same window with a step change differ in it."""
    torch.manual_seed(0)
    net = DConADNet(n_channels=1, window=12, d_model=8, n_heads=2, n_layers=1, dropout=0.0).eval()
    x = torch.sin(torch.arange(12.0) / 2)[None, :, None]
    y = x.clone()
    y[:, 6:] += 1.0
    (s1, _), (s2, _) = net(x)[0], net(y)[0]
    assert not torch.allclose(s1, s2)


def test_bad_heads_raise_a_clear_error():
    det = make_detector("dconad", window=8, d_model=6, n_heads=4, epochs=1)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        det.fit(torch.randn(50, 2).numpy())
