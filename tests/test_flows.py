"""Flow detectors (realnvp, maf), the autoencoder, the paper preset and the flow generator."""

from __future__ import annotations

import inspect
import math
import time
import tracemalloc

import numpy as np
import pytest
import torch

from anomalyforge.core.registry import make_detector, make_generator
from anomalyforge.core.windows import sliding_windows
from anomalyforge.detectors.flows import PAPER_SETTINGS, paper_preset
from anomalyforge.generators import flow as flow_generator
from anomalyforge.nn.flows import build_flow

from .conftest import make_series

TINY_FLOW = {"transforms": 2, "hidden_features": 16, "epochs": 20, "patience": 0, "max_train_windows": 2000}


def gaussian(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])


@pytest.mark.parametrize("name", ["maf", "realnvp"])
def test_nll_is_lower_in_distribution_than_far_away(name):
    det = make_detector(name, window=1, **TINY_FLOW).fit(gaussian(1500, 0))
    inside = gaussian(200, 1)
    far = inside[:50] + np.array([6.0, -6.0])
    scores = det.anomaly_score(np.vstack([inside, far]))
    assert np.median(scores[200:]) > np.quantile(scores[:200], 0.99)
    assert scores[200:].min() > np.median(scores[:200])


def test_identity_maf_log_prob_matches_the_standard_normal_by_hand():
    flow = build_flow("maf", 3, transforms=1, hidden_features=8, hidden_layers=1)
    last = [m for m in flow.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # zero conditioner output: shift 0, log-scale 0, the identity map
        last.weight.zero_()
        last.bias.zero_()
    x = torch.tensor([[0.0, 1.0, -2.0], [3.0, 0.5, 0.1]])
    by_hand = -0.5 * (x**2).sum(dim=1) - 1.5 * math.log(2 * math.pi)
    torch.testing.assert_close(flow().log_prob(x), by_hand)


@pytest.mark.parametrize("n_components", [None, 2])
def test_fitted_density_integrates_to_one(n_components):
    """exp(log_prob) over a grid of the (standardised) window space sums to ~1, with and without PCA."""
    rng = np.random.default_rng(0)
    channels = 2 if n_components is None else 3
    det = make_detector("maf", window=1, n_components=n_components, **TINY_FLOW)
    det.fit(rng.normal(size=(1500, channels)))
    axis = np.linspace(-7, 7, 71 if channels == 2 else 45)
    grid = np.stack(np.meshgrid(*[axis] * channels, indexing="ij"), axis=-1).reshape(-1, channels)
    with torch.no_grad():
        logp = det.log_prob(torch.as_tensor(grid, dtype=torch.float32)).numpy()
    mass = np.exp(logp.astype(np.float64)).sum() * (axis[1] - axis[0]) ** channels
    assert abs(mass - 1.0) < 0.05


def test_autoencoder_reconstructs_normal_windows_better_than_spikes():
    train, test = make_series(600, 2, seed=1), make_series(300, 2, seed=1)
    test[200:205, 0] += 5.0
    det = make_detector("autoencoder", window=8, hidden1=32, hidden2=8, epochs=40).fit(train)
    assert det.model_.encoder[-1].out_features == 2  # the paper's bottleneck
    scores = det.anomaly_score(test)
    assert scores[200:205].mean() > 5 * np.median(scores)
    for how in ("max", "mean"):
        other = make_detector("autoencoder", window=8, hidden1=32, hidden2=8, epochs=5, how=how).fit(train)
        assert other.anomaly_score(test).shape == (300,)
    with pytest.raises(ValueError, match="how"):
        make_detector("autoencoder", how="median").fit(train)


def test_paper_preset_has_the_papers_detectors_and_settings():
    preset = paper_preset(window=12, realnvp={"epochs": 3})
    assert set(preset) == {"realnvp", "iforest", "ocsvm", "elliptic", "autoencoder"}
    params = {name: det.get_params() for name, det in preset.items()}
    assert params["iforest"]["n_estimators"] == 100 and params["iforest"]["contamination"] == 0.05
    assert params["ocsvm"]["gamma"] == 0.1 and params["ocsvm"]["nu"] == 0.05
    assert params["elliptic"]["contamination"] == 0.05
    ae = params["autoencoder"]
    assert (ae["bottleneck"], ae["epochs"], ae["dropout"] > 0) == (2, 100, True)
    assert params["realnvp"]["epochs"] == 3
    assert all(p["window"] == 12 for p in params.values())
    for name, settings in PAPER_SETTINGS.items():
        for key, value in settings.items():
            assert params[name][key] == value, (name, key)
    with pytest.raises(ValueError, match="not in the preset"):
        paper_preset(lof={})


@pytest.mark.parametrize("name", ["maf", "autoencoder"])
def test_100k_step_series_scores_with_bounded_memory(name):
    """Scoring 100k steps x 4 channels with window 32 must not hold all windows (~100 MB as float64)."""
    rng = np.random.default_rng(0)
    X = np.sin(np.arange(100_000) / 10)[:, None] + 0.1 * rng.normal(size=(100_000, 4))
    if name == "maf":
        params = {"transforms": 1, "hidden_features": 8, "epochs": 2}
    else:
        params = {"hidden1": 8, "hidden2": 4, "epochs": 2}
    det = make_detector(name, window=32, max_train_windows=500, **params).fit(X[:5000])
    start = time.process_time()  # CPU seconds of this process: other processes' load does not count
    tracemalloc.start()
    try:
        scores = det.anomaly_score(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scores.shape == (100_000,) and np.isfinite(scores).all()
    assert peak < 40e6, f"scoring peaked at {peak / 1e6:.0f} MB of numpy memory"
    assert time.process_time() - start < 30


# ------------------------------------------------------------------------------------------ generator
@pytest.fixture(scope="module")
def series():
    return make_series(1500, 3, seed=4)


@pytest.fixture(scope="module")
def normal_patches(series):
    return np.ascontiguousarray(sliding_windows(series, 6, 7)[0])


GEN = {"patch_len": 6, "transforms": 2, "hidden_features": 32, "epochs": 15, "patience": 0}


@pytest.mark.parametrize("mode", ["tempered", "rejection", "both"])
def test_generated_patches_have_lower_likelihood_than_normal_patches(mode, series, normal_patches):
    gen = make_generator("flow", mode=mode, temperature=2.0, quantile=0.05, **GEN).fit(series)
    samples, acceptance = gen.sample_patches(150, random_state=0, return_acceptance=True)
    assert samples.shape == (150, 6, 3)
    lp_gen, lp_normal = gen.log_prob(samples), gen.log_prob(normal_patches)
    assert np.median(lp_gen) < np.quantile(lp_normal, 0.05)
    if mode != "tempered":  # rejection keeps (as far as it can) samples below the training quantile
        limit = np.quantile(gen.train_log_prob_, 0.05)
        assert acceptance > 0
        assert (lp_gen < limit + 1e-3).mean() > 0.95
    np.testing.assert_array_equal(samples, gen.sample_patches(150, random_state=0))
    assert not np.array_equal(samples, gen.sample_patches(150, random_state=1))


def test_generator_pastes_one_patch_on_a_subset_of_channels(series):
    gen = make_generator("flow", max_channel_fraction=0.5, **GEN).fit(series)
    windows = np.stack([series[i : i + 40] for i in range(0, 800, 40)])
    out = gen.generate(windows, n_per_window=2, random_state=0)
    changed_steps = out.mask.any(axis=2)
    lengths = changed_steps.sum(axis=1)
    assert lengths.max() <= 6 and len(np.unique(lengths)) > 1  # one random-size crop of a 6-step patch
    assert (out.mask.any(axis=1).sum(axis=1) == 1).all()  # max(1, int(0.5 * 3)) = 1 channel
    short = gen.generate(windows[:, :4], random_state=0)  # windows shorter than the patch: cropped
    assert short.mask.any(axis=(1, 2)).all()


def test_generator_rejects_bad_parameters(series):
    with pytest.raises(ValueError, match="mode"):
        make_generator("flow", mode="cold", **GEN).fit(series)
    with pytest.raises(ValueError, match="min_patch_fraction"):
        make_generator("flow", min_patch_fraction=0.0, **GEN).fit(series)
    with pytest.raises(ValueError, match="20 time steps, at least 50"):  # shorter than one patch
        make_generator("flow", **{**GEN, "patch_len": 50}).fit(series[:20])


def test_sampling_runs_the_flow_inverse_in_small_chunks_with_the_same_output(series, monkeypatch):
    # zuko's autoregressive inverse holds memory per sample (about 0.9 MB at 760 features), so proposals
    # go through it in chunks; chunking must not change a single sample
    gen = make_generator("flow", mode="tempered", **GEN).fit(series)
    with monkeypatch.context() as unchunked:  # one inverse over all 300 samples, as before chunking
        unchunked.setattr(flow_generator, "_INVERSE_CHUNK", 10**6)
        whole = gen.sample_patches(300, random_state=3)
    transform = type(gen.flow_().transform)
    inverse = inspect.getattr_static(transform, "inv")  # a property giving the inverse transform
    sizes: list[int] = []

    def recording(inv):
        def call(y):
            sizes.append(y.shape[0])
            return inv(y)

        return call

    monkeypatch.setattr(transform, "inv", property(lambda self: recording(inverse.fget(self))))
    np.testing.assert_array_equal(gen.sample_patches(300, random_state=3), whole)
    assert sum(sizes) == 300 and max(sizes) <= 64
