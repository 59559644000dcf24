"""GenIAS temporal latent: shapes for any window, no decoder dead zone, linear level path, it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyforge.core.windows import sliding_windows
from anomalyforge.generators.genias import GenIASGenerator
from anomalyforge.generators.genias.model import GenIASNet
from anomalyforge.generators.genias.temporal import TemporalDecoder, TemporalEncoder, temporal_length


@pytest.mark.parametrize("window", [8, 33, 200])
def test_temporal_network_shapes_for_any_window(window):
    net = GenIASNet(3, window, 0, 4, 3, 3, 0.1, 0, "per_dim", 1.0, latent="temporal", latent_channels=5).eval()
    x_hat, x_tilde, mu, logvar = net(torch.randn(4, 3, window))
    assert x_hat.shape == x_tilde.shape == (4, 3, window)
    assert mu.shape == logvar.shape == (4, 5 * temporal_length(window)) == (4, net.latent_dim)
    assert net.psi.shape == (net.latent_dim,)


def test_temporal_latent_keeps_time_local():
    """Changing the input at the end of the window leaves the early latent steps as they were (causal TCN)."""
    torch.manual_seed(0)
    enc = TemporalEncoder(2, 4, 3, n_layers=2, kernel_size=3, dropout=0.0).eval()
    x = torch.randn(1, 2, 40)
    y = x.clone()
    y[:, :, 30:] += 5.0
    with torch.no_grad():
        a, b = enc(x)[0].view(3, 20), enc(y)[0].view(3, 20)
    torch.testing.assert_close(a[:, :15], b[:, :15])
    assert not torch.allclose(a[:, 15:], b[:, 15:])


def test_temporal_decoder_has_no_dead_zone():
    torch.manual_seed(0)
    dec = TemporalDecoder(n_channels=3, hidden=4, latent_channels=2, window=32).eval()
    with torch.no_grad():
        dec.lift.bias.fill_(-100.0)  # every first-layer unit far below zero
        dec.level.weight.zero_()  # and the linear path off: the convolutional path alone
        out = dec(torch.randn(2, 2 * 16))
    assert (out[0] != out[1]).all(), "some output cells do not depend on z"
    assert (out[0].diff(dim=1) != 0).all(), "flat stretch in a decoded window"


def test_temporal_decoder_extrapolates_levels_linearly():
    dec = TemporalDecoder(n_channels=2, hidden=4, latent_channels=3, window=15).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        dec.level.weight[:, 0] = 1.0
        z = torch.zeros(1, 3, 8)
        z[0, 0] = 7.5  # far outside the prior's range
        np.testing.assert_allclose(dec(z.flatten(1)).numpy(), 7.5)


def test_latent_dim_with_the_temporal_latent_is_refused():
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(ValueError, match="latent_dim=8 sets the size of the flat latent"):
        GenIASGenerator(window=16, latent_dim=8, epochs=1, time_budget=None).fit(X)


def _reconstruction_ratio(gen: GenIASGenerator, held: np.ndarray) -> float:
    view, _ = sliding_windows(held, int(gen.window), 4)
    w = np.asarray(view)
    z = (w - gen.mean_) / gen.std_
    zr = (gen.reconstruct(w) - gen.mean_) / gen.std_
    return float(((z - zr) ** 2).mean() / ((z - z.mean(axis=1, keepdims=True)) ** 2).mean())


def test_temporal_vae_learns_where_the_flat_one_stays_at_the_mean():
    """Held-out windows of a multichannel series (4 sines of unrelated periods and phases, plus noise):
    after the same 25 epochs the temporal VAE reconstructs far better than each window's channel mean; the
    flat latent of the same budget does not get below the mean by much."""
    rng = np.random.default_rng(1)
    t = np.arange(2600)[:, None]
    periods = np.array([7.0, 11.0, 17.0, 29.0])
    X = np.sin(2 * np.pi * t / periods + rng.uniform(0, 6, 4)) + 0.1 * rng.normal(size=(2600, 4))
    fit_part, held = X[:2200], X[2200:]
    common = dict(window=32, hidden_channels=8, epochs=25, patience=0, time_budget=None, random_state=0,
                  max_train_windows=400, lr=3e-3)  # fmt: skip
    temporal = GenIASGenerator(**common).fit(fit_part)
    flat = GenIASGenerator(**common, latent="flat", latent_dim=16, n_upsample=2).fit(fit_part)
    r_t, r_f = _reconstruction_ratio(temporal, held), _reconstruction_ratio(flat, held)
    assert r_t < 0.25, f"temporal ratio {r_t:.3f}"
    assert r_t < 0.5 * r_f, f"temporal {r_t:.3f} vs flat {r_f:.3f}"
    out = temporal.generate_from_series(held, n=20, random_state=0)
    assert out.patched.shape == (20, 32, 4) and out.mask.any(axis=(1, 2)).all()


def test_segment_span_forges_local_deviations():
    """perturb_span="segment" with residual forging: the forgery equals the source away from one run of steps
    (up to the decoder's few-step reach around it) and differs inside it."""
    rng = np.random.default_rng(0)
    X = np.sin(np.arange(3000) / 5.0)[:, None] + 0.05 * rng.normal(size=(3000, 1))
    gen = GenIASGenerator(window=64, epochs=3, time_budget=None, random_state=0, perturb_span="segment",
                          forge="residual").fit(X)  # fmt: skip
    out = gen.generate_from_series(X, n=30, random_state=1)
    src = np.stack([X[s : s + 64] for s in out.source])
    changed = np.abs(out.anomalies - src)[..., 0] > 1e-6  # (30, 64)
    share = changed.mean(axis=1)
    assert share.min() > 0.05 and share.max() < 1.0 and share.std() > 0.05
    for row in changed:  # one contiguous run of changed steps
        idx = np.flatnonzero(row)
        assert idx[-1] - idx[0] + 1 == len(idx)
    whole = GenIASGenerator(**{**gen.get_params(), "perturb_span": "window"}).fit(X)
    src_w = whole.generate_from_series(X, n=30, random_state=1)
    assert (np.abs(src_w.anomalies - src)[..., 0] > 1e-6).mean() > share.mean()
