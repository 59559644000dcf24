"""GenIAS generator: loss formulas on hand cases, patching rule, psi, training budget, save/load, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyforge.core.registry import make_generator
from anomalyforge.generators.genias import GenIASGenerator
from anomalyforge.generators.genias.generator import TEMPORAL_LAYERS
from anomalyforge.generators.genias.model import (
    CausalConvBlock,
    ConvTransposeDecoder,
    GenIASNet,
    compact_kl,
    deviation_patch_mask,
    perturbation_loss,
    receptive_field_layers,
    window_distance,
    zero_perturbation_loss,
)

from .conftest import make_series

TINY = dict(window=32, latent_channels=2, hidden_channels=4, max_train_windows=64, random_state=0)
FLAT = dict(latent="flat", latent_dim=8, n_upsample=2)


# the paper's generation (decoded, whole-window perturbation, eps unscaled): most tests below check its rules;
# the defaults (residual, one segment, scale up to 3) are checked in test_genias_temporal.py and test_common.py
PAPER_GENERATION = dict(forge="decoded", perturb_span="window", perturb_scale=1.0)


def tiny(**kw) -> GenIASGenerator:
    return GenIASGenerator(**{**TINY, **PAPER_GENERATION, "epochs": 3, "time_budget": None, **kw})


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained long enough for the perturbation loss to act (a few seconds)."""
    series = make_series(1200, 2, seed=5)
    gen = tiny(epochs=150, patience=0, lr=3e-3, stride=4, max_train_windows=400).fit(series)
    return gen, series


# ------------------------------------------------------------------------------------------- losses
def test_compact_kl_matches_monte_carlo_and_closed_form():
    rng = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.3, -1.2, 0.0]])
    logvar = torch.log(torch.tensor([[0.2, 0.9, 0.5]]))
    prior_var = 0.5
    kl = float(compact_kl(mu, logvar, prior_var)[0])
    # Monte Carlo: E_q[log q(z) - log p(z)]
    q = torch.distributions.Normal(mu[0], torch.exp(0.5 * logvar[0]))
    p = torch.distributions.Normal(torch.zeros(3), torch.full((3,), prior_var**0.5))
    z = mu[0] + torch.exp(0.5 * logvar[0]) * torch.randn(400_000, 3, generator=rng)
    mc = float((q.log_prob(z) - p.log_prob(z)).sum(dim=1).mean())
    exact = float(torch.distributions.kl_divergence(q, p).sum())
    assert kl == pytest.approx(exact, rel=1e-5)
    assert kl == pytest.approx(mc, abs=0.01)
    # zero exactly at the prior, and not the (mu / prior_var)^2 variant of a third-party reimplementation
    assert float(compact_kl(torch.zeros(1, 4), torch.full((1, 4), np.log(prior_var)), prior_var)[0]) == pytest.approx(
        0.0, abs=1e-6
    )
    wrong = 0.5 * float(
        (logvar.exp() / prior_var + (mu / prior_var) ** 2 - 1 - torch.log(logvar.exp() / prior_var)).sum()
    )
    assert abs(kl - wrong) > 0.1


@pytest.mark.parametrize(
    ("d_rec", "d_anom", "expected"),
    [
        (0.05, 0.10, 0.05),  # too close: anomaly must be >= d_rec + delta_min = 0.15 away
        (0.05, 0.18, 0.0),  # inside [0.15, 0.2]: no loss
        (0.05, 0.30, 0.10),  # too far: 0.30 - delta_max
        (0.30, 0.25, 0.15 + 0.05),  # both hinges: 0.30 - 0.25 + 0.1 and 0.25 - 0.2
    ],
)
def test_perturbation_loss_hinges(d_rec, d_anom, expected):
    out = perturbation_loss(torch.tensor([d_rec]), torch.tensor([d_anom]), delta_min=0.1, delta_max=0.2)
    assert float(out[0]) == pytest.approx(expected, abs=1e-6)


def test_window_distance_is_mean_squared_error():
    a = torch.zeros(2, 3, 4)
    b = torch.ones(2, 3, 4)
    b[1] *= 2
    np.testing.assert_allclose(window_distance(a, b).numpy(), [1.0, 4.0])


def test_zero_perturbation_loss_only_on_all_zero_channels():
    x = torch.zeros(2, 3, 5)
    x[:, 1] = 1.0  # channel 1 is not zero
    zero_mask = torch.tensor([[True, False, True], [False, False, False]])
    same = x.clone()
    same[:, 1] += 3.0  # a big change on a non-zero channel is not this loss's business
    np.testing.assert_allclose(zero_perturbation_loss(x, same, zero_mask).numpy(), [0.0, 0.0])
    moved = same.clone()
    moved[0, 0] = 1.0  # u = 1 on channel 0 -> 1 / 2 per step; channel 2 stays -> mean over both channels
    out = zero_perturbation_loss(x, moved, zero_mask).numpy()
    assert out[0] == pytest.approx(0.25) and out[1] == 0.0


def test_patching_rule_hand_case():
    t = np.arange(10.0)
    x = np.stack([t, np.zeros(10), np.sin(t), np.full(10, 2.0)], axis=1)[None]  # (1, 10, 4)
    x_tilde = x.copy()
    x_tilde[0, :, 0] += 1.0  # deviation 10 vs amplitude 9: kept for tau=1 (10 > 9), not for tau=2 (10 < 18)
    x_tilde[0, :4, 1] = 0.1  # constant channel: any deviation beats tau * 0
    x_tilde[0, :, 2] += 0.1  # deviation 0.1 vs amplitude ~2: dropped for tau >= 0.05
    keep, ratio = deviation_patch_mask(x, x_tilde, tau=1.0)
    np.testing.assert_array_equal(keep[0], [True, True, False, False])
    keep2, _ = deviation_patch_mask(x, x_tilde, tau=2.0)
    np.testing.assert_array_equal(keep2[0], [False, True, False, False])
    assert ratio[0, 1] == np.inf and ratio[0, 3] == 0.0
    assert ratio[0, 0] == pytest.approx(10.0 / 9.0)
    # per-step rule (the generator's default): mean squared deviation 1.0 vs tau * 9
    keep3, _ = deviation_patch_mask(x, x_tilde, tau=0.1, per_step=True)
    np.testing.assert_array_equal(keep3[0], [True, True, False, False])
    keep4, _ = deviation_patch_mask(x, x_tilde, tau=0.2, per_step=True)
    np.testing.assert_array_equal(keep4[0], [False, True, False, False])


def test_receptive_field_covers_window():
    assert receptive_field_layers(200) == 7  # 1 + 2 * 127 = 255 >= 200 > 127
    assert receptive_field_layers(32) == 5


@pytest.mark.parametrize("window", [32, 45, 200])
def test_network_shapes_for_any_window(window):
    net = GenIASNet(3, window, 6, 4, receptive_field_layers(window), 3, 0.1, 3, "per_dim", 1.0).eval()
    x_hat, x_tilde, mu, logvar = net(torch.randn(5, 3, window))
    assert x_hat.shape == x_tilde.shape == (5, 3, window)
    assert mu.shape == logvar.shape == (5, 6)
    assert net.psi.shape == (6,)


def test_tcn_dropout_drops_whole_channels():
    """Channel dropout: one Bernoulli draw per (window, channel), not per step (an epoch's main RNG cost)."""
    torch.manual_seed(0)
    block = CausalConvBlock(4, 4, 3, 1, dropout=0.5).train()
    x = torch.randn(8, 4, 50)
    kept = block(x) - x  # the residual is the identity here: what is left is the dropped-out conv branch
    full = block.eval()(x) - x
    active = full != 0
    scale = torch.where(active, kept / torch.where(active, full, 1.0), torch.nan)  # 0 or 1 / (1 - p) per step
    per_channel = torch.nanmean(scale, dim=2, keepdim=True)
    # kept == per-channel factor x full branch, up to float error (a step where the branch is ~1e-3 can give a
    # ratio of 1.9998 on some CPUs, so the factor is checked on the outputs, not on the ratio)
    assert torch.allclose(kept, per_channel.nan_to_num(0.0) * full, atol=1e-5)
    assert set(per_channel.flatten().round().tolist()) == {0.0, 2.0}


def test_decoder_has_no_dead_zone():
    """Even where every pre-activation is negative the decoded window still follows z (ReLU drew a constant)."""
    torch.manual_seed(0)
    dec = ConvTransposeDecoder(n_channels=3, hidden=4, latent_dim=5, window=32, n_upsample=2).eval()
    with torch.no_grad():
        dec.fc.bias.fill_(-100.0)  # every unit of the first layer far below zero for any moderate z
        dec.level.weight.zero_()  # and without the linear level path: the convolutional path alone
        out = dec(torch.randn(2, 5))
    assert (out[0] != out[1]).all(), "some output cells do not depend on z"
    assert (out[0].diff(dim=1) != 0).all(), "flat stretch in a decoded window"


def test_decoder_extrapolates_levels_linearly():
    dec = ConvTransposeDecoder(n_channels=2, hidden=4, latent_dim=3, window=16, n_upsample=1).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        dec.level.weight[:, 0] = 1.0
        z = torch.zeros(1, 3)
        z[0, 0] = 7.5  # far outside the unit range of the prior
        np.testing.assert_allclose(dec(z).numpy(), 7.5)


# ---------------------------------------------------------------------------------------- training
def test_defaults_resolve_by_channel_count():
    uni = tiny(epochs=1, **FLAT).fit(make_series(200, 1))
    multi = tiny(epochs=1, **{**FLAT, "latent_dim": None}).fit(make_series(200, 3))
    assert uni.latent_dim_ == 8 and uni.gamma_ == 0.0
    assert multi.latent_dim_ == 100 and multi.gamma_ == 0.01
    assert multi.n_layers_ == receptive_field_layers(32)
    assert tiny(epochs=1, **{**FLAT, "latent_dim": None}).fit(make_series(200, 1)).latent_dim_ == 50
    # the temporal latent (the default): latent_channels numbers per pair of steps, TEMPORAL_LAYERS layers
    temporal = tiny(epochs=1, window=33).fit(make_series(200, 3))
    assert temporal.latent_dim_ == 2 * 17 and temporal.n_layers_ == TEMPORAL_LAYERS
    assert temporal.model_.encoder(torch.zeros(1, 3, 33))[0].shape == (1, 34)


def test_psi_positive_and_learned(trained):
    gen, _ = trained
    assert len(gen.psi_) == 1 and gen.psi_[0] > 0
    assert abs(gen.psi_[0] - gen.psi_init) > 1e-3, "psi must move during training"
    per_dim = tiny(psi_mode="per_dim", epochs=5, lr=1e-2).fit(make_series(300, 2))
    assert len(per_dim.psi_) == per_dim.latent_dim_ == 32 and min(per_dim.psi_) > 0
    net = per_dim.model_
    with torch.no_grad():
        net.psi_raw.fill_(-50.0)  # the free parameter can go anywhere; psi stays positive
    assert float(net.psi.detach().min()) > 0


def test_anomalies_differ_from_source_more_than_reconstructions(trained):
    gen, series = trained
    windows = np.stack([series[s : s + 32] for s in range(0, 1100, 20)])
    xs = torch.tensor(((windows - gen.mean_) / gen.std_).transpose(0, 2, 1), dtype=torch.float32)
    with torch.no_grad():
        mu, _ = gen.model_.encoder(xs)
        d_rec = window_distance(xs, gen.model_.decoder(mu)).mean()
    out = gen.generate(windows, random_state=0)
    d_anom = ((out.anomalies - windows) / gen.std_) ** 2
    assert d_anom.mean() > float(d_rec) + 0.5 * gen.delta_min


def test_time_budget_stops_training(fake_clock):
    # every clock reading advances 0.25 s: the fit loop reads it once per epoch, so a 1 s budget ends
    # training after 4 epochs, whatever the machine's load (a real clock let any count below 100_000 pass)
    fake_clock(0.25)
    gen = GenIASGenerator(**{**TINY, "epochs": 100_000, "patience": 0, "time_budget": 1.0})
    gen.fit(make_series(600, 2))
    assert gen.train_report_["stopped_by"] == "time budget"
    assert 1 <= gen.train_report_["epochs_run"] <= 4
    assert 1.0 <= gen.train_report_["seconds"] <= 1.0 + 0.5


def test_same_seed_without_budget_trains_the_same_model():
    """Deterministic mode: time_budget=None and a seed fix every draw of training."""
    series = make_series(300, 2, seed=3)
    a, b = tiny(epochs=2).fit(series), tiny(epochs=2).fit(series)
    assert a.train_report_["stopped_by"] == "epochs" and a.train_report_["epochs_run"] == 2
    for (name, wa), wb in zip(a.model_.state_dict().items(), b.model_.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name


def test_every_parameter_is_declared_and_checked():
    from anomalyforge.core.base import _declared_constraints

    missing = set(GenIASGenerator().get_params(deep=False)) - set(_declared_constraints(GenIASGenerator))
    assert not missing, f"GenIASGenerator declares no constraint for {sorted(missing)}"
    with pytest.raises(ValueError, match="parameter time_budget=0"):
        tiny(time_budget=0).fit(make_series(200, 1))
    with pytest.raises(ValueError, match="parameter window=4"):
        tiny(window=4).fit(make_series(200, 1))


def test_adaptive_stride_caps_training_windows():
    gen = tiny(epochs=1, max_train_windows=50).fit(make_series(1000, 1))
    assert gen.n_train_windows_ <= 51 and gen.stride_ == 20
    assert tiny(epochs=1, stride=7).fit(make_series(300, 1)).stride_ == 7


# -------------------------------------------------------------------------------------- generation
def test_generate_in_original_units_and_patching_keeps_whole_channels(trained):
    gen, series = trained
    scaled = tiny(epochs=3).fit(series * 1000 + 50)
    unit = np.stack([series[s : s + 32] for s in range(0, 600, 40)])
    windows = unit * 1000 + 50
    out = scaled.generate(windows, n_per_window=2, random_state=1)
    src = windows[out.source]
    changed = out.mask.any(axis=1)  # (n, C) channels touched
    assert changed.any(axis=1).all()
    assert (out.mask.all(axis=1) | ~changed).all(), "a patched channel is replaced over the whole window"
    np.testing.assert_array_equal(out.patched[~out.mask], src[~out.mask])
    # original units, not z-scores: standardisation makes the model on the rescaled series the same model,
    # so its anomalies are the unit-scale model's, rescaled (agreement ~1e-13 of 1000)
    plain = tiny(epochs=3).fit(series).generate(unit, n_per_window=2, random_state=1)
    np.testing.assert_allclose(out.anomalies, plain.anomalies * 1000 + 50, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out.mask, plain.mask)


def test_every_window_changes_even_when_tau_rejects_all(trained):
    gen, series = trained
    strict = GenIASGenerator(**{**gen.get_params(), "tau": 1e12})
    strict.__dict__.update({k: v for k, v in gen.__dict__.items() if k.endswith("_")})
    windows = np.stack([series[s : s + 32] for s in range(0, 320, 32)])
    out = strict.generate(windows, random_state=0)
    assert (out.mask.any(axis=1).sum(axis=1) == 1).all(), "fallback keeps exactly the most deviating channel"


def test_same_seed_same_output_and_save_load(trained, tmp_path):
    gen, series = trained
    windows = np.stack([series[s : s + 32] for s in range(0, 320, 32)])
    a = gen.generate(windows, n_per_window=3, random_state=11)
    b = gen.generate(windows, n_per_window=3, random_state=11)
    np.testing.assert_array_equal(a.anomalies, b.anomalies)
    loaded = GenIASGenerator.load(gen.save(tmp_path / "genias"))
    c = loaded.generate(windows, n_per_window=3, random_state=11)
    np.testing.assert_allclose(c.anomalies, a.anomalies, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(c.mask, a.mask)
    assert loaded.psi_ == gen.psi_ and loaded.train_report_ == gen.train_report_


def test_generate_from_series_and_registry(trained):
    gen, series = trained
    out = gen.generate_from_series(series, n=7, random_state=2)
    assert out.patched.shape == (7, 32, 2)
    for start, w, m in zip(out.source, out.patched, out.mask, strict=True):
        np.testing.assert_array_equal(w[~m], series[start : start + 32][~m])
    assert isinstance(make_generator("genias"), GenIASGenerator)


def test_bad_inputs_raise_clear_errors(trained):
    gen, series = trained
    with pytest.raises(ValueError, match="time steps"):
        tiny().fit(make_series(20, 2))  # shorter than the window
    bad = make_series(300, 2)
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny().fit(bad)
    with pytest.raises(ValueError, match="trained on windows of 32"):
        gen.generate(np.zeros((2, 40, 2)))
    with pytest.raises(ValueError, match="channels"):
        gen.generate(np.zeros((2, 32, 3)))
    with pytest.raises(ValueError, match="psi_mode"):
        tiny(psi_mode="vector").fit(series)
    with pytest.raises(ValueError, match="NaN"):
        gen.generate(np.full((2, 32, 2), np.nan))


# ------------------------------------------------------------------------------------ channel kinds
def _flag_series(n: int = 900, seed: int = 0) -> np.ndarray:
    """A continuous channel, a 0/1 command flag that fires in bursts, a constant channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    flag = ((t % 60) < 8).astype(float)
    return np.stack([np.sin(t / 7) + 0.1 * rng.standard_normal(n), flag, np.full(n, 3.0)], axis=1)


def test_channel_kinds_from_training_data():
    from anomalyforge.generators.genias.channels import ChannelCoding, detect_channel_kinds

    X = _flag_series()
    X[:, 1] = np.where(X[:, 1] > 0, 5.0, 2.0)  # any two values, not only 0 / 1
    constant, binary, low, high = detect_channel_kinds(X, discrete=True)
    np.testing.assert_array_equal(constant, [False, False, True])
    np.testing.assert_array_equal(binary, [False, True, False])
    assert (low[1], high[1]) == (2.0, 5.0)
    off = detect_channel_kinds(X, discrete=False)
    assert not off[0].any() and not off[1].any()
    coding = ChannelCoding(X.mean(0), np.where(X.std(0) > 0, X.std(0), 1.0), constant, binary, low, high)
    w = X[None, :50]
    enc = coding.encode(w)  # (1, 2, 50): the constant channel is not the network's
    assert enc.shape == (1, 2, 50) and set(np.unique(enc[0, 1])) == {0.0, 1.0}
    logits = np.where(enc > 0.5, 4.0, -4.0).astype(np.float32)
    logits[:, 0] = enc[:, 0]
    dec = coding.decode(logits, threshold=True)
    np.testing.assert_array_equal(dec[0, :, 1], w[0, :, 1])  # exactly the two values
    np.testing.assert_array_equal(dec[0, :, 2], 3.0)
    np.testing.assert_allclose(dec[0, :, 0], w[0, :, 0], atol=1e-5)
    mean = coding.decode(np.zeros_like(logits), threshold=False)
    np.testing.assert_allclose(mean[0, :, 1], 3.5)  # p = 0.5 -> expected value


def test_reconstruction_error_is_bce_on_binary_channels():
    from anomalyforge.generators.genias.model import decoded_mean, reconstruction_error

    x = torch.tensor([[[1.0, 0.0], [0.5, -0.5]]])  # (1, 2 channels, 2 steps); channel 0 binary
    out = torch.tensor([[[2.0, -1.0], [0.0, 0.0]]])
    binary = torch.tensor([True, False])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[0, 0], x[0, 0], reduction="sum")
    expected = (float(bce) + 0.25 + 0.25) / 4
    assert float(reconstruction_error(x, out, binary)[0]) == pytest.approx(expected, rel=1e-6)
    assert float(reconstruction_error(x, out, None)[0]) == pytest.approx(float((x - out).pow(2).mean()))
    np.testing.assert_allclose(decoded_mean(out, binary)[0, 0].numpy(), torch.sigmoid(out[0, 0]).numpy())
    np.testing.assert_array_equal(decoded_mean(out, binary)[0, 1].numpy(), out[0, 1].numpy())


def test_forged_flags_stay_binary_and_constant_channels_constant(tmp_path):
    series = _flag_series()
    gen = tiny(epochs=5, stride=4).fit(series)
    np.testing.assert_array_equal(gen.binary_, [False, True, False])
    np.testing.assert_array_equal(gen.constant_, [False, False, True])
    assert gen.model_.encoder.tcn[0].conv.in_channels == 2  # the constant channel is not modelled
    windows = np.stack([series[s : s + 32] for s in range(0, 800, 16)])
    out = gen.generate(windows, n_per_window=3, random_state=0)
    assert set(np.unique(out.anomalies[:, :, 1])) <= {0.0, 1.0}
    assert set(np.unique(out.patched[:, :, 1])) <= {0.0, 1.0}, "patching wrote a non-binary flag"
    assert (out.anomalies[:, :, 2] == 3.0).all() and (out.patched[:, :, 2] == 3.0).all()
    recon = gen.reconstruct(windows)
    assert ((recon[:, :, 1] >= 0) & (recon[:, :, 1] <= 1)).all() and (recon[:, :, 2] == 3.0).all()
    loaded = GenIASGenerator.load(gen.save(tmp_path / "flags"))
    again = loaded.generate(windows, n_per_window=3, random_state=0)
    np.testing.assert_array_equal(again.patched[:, :, 1:], out.patched[:, :, 1:])
    # the paper's setting (every channel continuous) forges real-valued flags: what the kinds prevent
    plain = tiny(epochs=5, stride=4, discrete=False).fit(series).generate(windows, n_per_window=3, random_state=0)
    assert not set(np.unique(plain.anomalies[:, :, 1])) <= {0.0, 1.0}


def test_kl_per_cell_is_the_sum_over_latents_per_reconstructed_cell():
    """Default reduction: KL summed over L, divided by the T * D cells the reconstruction averages over."""
    assert GenIASGenerator().kl_reduction == "per_cell"
    gen = tiny(epochs=1).fit(make_series(300, 3))
    mu, logvar = torch.randn(4, 8), torch.randn(4, 8)
    total = compact_kl(mu, logvar, gen.prior_var, "sum").mean()
    assert float(gen._kl(mu, logvar, 32)) == pytest.approx(float(total) / (32 * 3), rel=1e-6)
    mean = GenIASGenerator(**{**gen.get_params(), "kl_reduction": "mean"})
    expected = float(compact_kl(mu, logvar, gen.prior_var, "mean").mean())
    assert float(mean._kl(mu, logvar, 32)) == pytest.approx(expected, rel=1e-6)


def test_residual_forging_adds_the_perturbation_change_to_the_source(trained):
    """forge="residual": source + (decoded perturbed - decoded mean); flags flip but stay binary."""
    gen, series = trained
    res = GenIASGenerator(**{**gen.get_params(), "forge": "residual"})
    res.__dict__.update({k: v for k, v in gen.__dict__.items() if k.endswith("_")})
    windows = np.stack([series[s : s + 32] for s in range(0, 320, 32)])
    a = gen.generate(windows, random_state=3)  # decoded (the paper)
    b = res.generate(windows, random_state=3)
    recon = gen.reconstruct(windows)
    src = windows[b.source]
    # same eps draws: the residual forgery is the decoded one moved by the source's reconstruction error
    np.testing.assert_allclose(b.anomalies, src + (a.anomalies - recon[a.source]), atol=1e-5)
    assert not np.allclose(b.anomalies, a.anomalies)
    np.testing.assert_array_equal(b.patched[~b.mask], src[~b.mask])
    flags = _flag_series()
    fg = tiny(epochs=5, stride=4, forge="residual").fit(flags)
    w = np.stack([flags[s : s + 32] for s in range(0, 800, 16)])
    out = fg.generate(w, n_per_window=3, random_state=0)
    assert set(np.unique(out.anomalies[:, :, 1])) <= {0.0, 1.0}
    assert (out.anomalies[:, :, 2] == 3.0).all()
    with pytest.raises(ValueError, match="forge"):
        tiny(forge="copy").fit(make_series(300, 1))


def test_perturb_scale_forges_larger_deviations(trained):
    """perturb_scale > 1 scales each window's eps by U(1, scale): forgeries move further from the source."""
    gen, series = trained
    big = GenIASGenerator(**{**gen.get_params(), "perturb_scale": 5.0, "forge": "residual"})
    big.__dict__.update({k: v for k, v in gen.__dict__.items() if k.endswith("_")})
    base = GenIASGenerator(**{**gen.get_params(), "forge": "residual"})
    base.__dict__.update({k: v for k, v in gen.__dict__.items() if k.endswith("_")})
    windows = np.stack([series[s : s + 32] for s in range(0, 640, 16)])
    dev_big = np.abs(big.generate(windows, random_state=4).anomalies - windows).mean()
    dev_base = np.abs(base.generate(windows, random_state=4).anomalies - windows).mean()
    assert dev_big > 1.5 * dev_base
    with pytest.raises(ValueError, match="perturb_scale"):
        tiny(perturb_scale=0.5).fit(make_series(300, 1))
