"""M2AD: calibration on training data only, Fisher/Gamma maths, systems, intervals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from anomalyforge.detectors.m2ad import M2AD
from anomalyforge.detectors.m2ad.residuals import (
    fisher_statistic,
    fit_gamma,
    gamma_log_sf,
    intervals_from_mask,
    mixture_log_sf,
)

SMALL = dict(window=30, hidden_size=16, epochs=6, max_train_windows=1500, batch_size=64, time_budget=30.0)


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n)
    noise = rng.normal(size=n) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def normal_series(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two noisy periodic sensors and one AR sensor, shape (n, 3)."""
    t = np.arange(n)
    return np.stack(
        [
            np.sin(2 * np.pi * t / 40) + 0.3 * ar1(n, 0.5, rng),
            np.cos(2 * np.pi * t / 40) + 0.3 * ar1(n, 0.5, rng),
            ar1(n, 0.8, rng),
        ],
        axis=1,
    )


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    train, test = normal_series(3000, rng), normal_series(6000, rng)
    det = M2AD(threshold="gamma", **SMALL).fit(train)
    return train, test, det


def snapshot(det: M2AD) -> dict:
    out = {}
    for name, value in vars(det).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, torch.nn.Module):
            out[name] = {k: v.clone() for k, v in value.state_dict().items()}
        elif isinstance(value, np.ndarray):
            out[name] = value.copy()
        else:
            out[name] = repr(value)
    return out


def test_scoring_never_changes_fitted_state(case):
    _, test, det = case
    before = snapshot(det)
    shifted = test * 3.0 + 5.0  # data with other statistics: a refitting scaler would change
    det.anomaly_score(shifted)
    det.p_values(shifted)
    det.anomaly_intervals(shifted)
    after = snapshot(det)
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, dict):
            for k, tensor in value.items():
                assert torch.equal(tensor, after[name][k]), f"{name}.{k} changed while scoring"
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[name], err_msg=f"{name} changed while scoring")
        else:
            assert value == after[name], f"{name} changed while scoring"


def test_gamma_threshold_matches_the_calibration_and_its_false_positive_rate(case):
    _, test, det = case
    # -log10 of a calibrated p-value is ~ Exp(ln 10), so GammaThreshold at 0.001 lands near -log10(0.001) = 3.
    assert 2.5 < det.threshold_ < 3.6, det.threshold_
    fpr = det.predict(test).mean()
    p = det.p_values(test)
    fpr_001, fpr_01 = (p < 1e-3).mean(), (p < 1e-2).mean()
    print(f"\nthreshold {det.threshold_:.3f}; FPR on fresh normal data: gamma threshold {fpr:.4f}, "
          f"p<0.001 {fpr_001:.4f}, p<0.01 {fpr_01:.4f}")
    assert fpr <= 0.005 and fpr_001 <= 0.005
    assert 0.002 <= fpr_01 <= 0.03


def test_planted_spike_gives_an_interval_and_a_tiny_p_value(case):
    _, test, det = case
    bad = test.copy()
    bad[4000:4004, 2] += 6.0
    intervals = det.anomaly_intervals(bad)
    assert any(s <= 4003 and e > 4000 for s, e in intervals), intervals
    assert det.p_values(bad)[3995:4015].min() < 1e-4
    assert all(0 <= s < e <= len(bad) for s, e in intervals)


def test_fisher_score_ranks_like_log10p(case):
    train, test, det = case
    fisher = M2AD(score="fisher", **SMALL).fit(train)
    a, b = det.anomaly_score(test[:1500]), fisher.anomaly_score(test[:1500])
    assert stats.spearmanr(a, b).statistic > 0.999


def test_systems_are_fitted_and_scored_together_with_weights():
    rng = np.random.default_rng(3)
    sys_a, sys_b = normal_series(1500, rng), normal_series(1500, rng)[:, :2]
    small = {**SMALL, "epochs": 2, "max_train_windows": 300}
    det = M2AD(**small).fit_systems([sys_a, sys_b])
    assert det.system_sizes == [3, 2] and len(det.model_) == 2
    test_a, test_b = normal_series(800, rng), normal_series(800, rng)[:, :2]
    scores = det.score_systems([test_a, test_b])
    assert scores.shape == (800,)
    np.testing.assert_allclose(scores, det.anomaly_score(np.hstack([test_a, test_b])))
    ignore_b = M2AD(system_weights=[1.0, 0.0], **small).fit_systems([sys_a, sys_b])
    broken_b = test_b.copy()
    broken_b[400:410] += 5.0
    np.testing.assert_allclose(
        ignore_b.score_systems([test_a, broken_b]), ignore_b.score_systems([test_a, test_b]), rtol=1e-9
    )
    assert det.score_systems([test_a, broken_b])[400:410].max() > scores.max()
    with pytest.raises(ValueError, match="time-aligned"):
        det.score_systems([test_a, test_b[:700]])
    with pytest.raises(ValueError, match="system_sizes"):
        M2AD(system_sizes=[2, 2], **small).fit(sys_a)


def test_fisher_of_uniform_p_values_is_chi2_and_gamma_moments_recover_it():
    rng = np.random.default_rng(0)
    k = 6
    log_p = np.log(rng.uniform(size=(200_000, k)))
    statistic = fisher_statistic(log_p, np.ones(k))
    shape, scale = fit_gamma(statistic)  # chi2(2k) = Gamma(k, 2)
    assert abs(shape - k) < 0.1 and abs(scale - 2.0) < 0.05


def test_gamma_tail_p_value_stays_finite_and_ordered_far_out():
    x = np.array([10.0, 1e3, 1e6, 4e6])
    log_p = gamma_log_sf(x, 0.07, 2200.0)
    assert np.isfinite(log_p).all() and (np.diff(log_p) < 0).all()
    np.testing.assert_allclose(log_p[:2], stats.gamma.logsf(x[:2], 0.07, scale=2200.0))


def test_one_component_mixture_p_value_is_the_normal_tail():
    x = np.array([[-1.0], [0.5], [3.0]])
    got = mixture_log_sf(x, np.ones((1, 1)), np.full((1, 1), 0.5), np.full((1, 1), 2.0))
    np.testing.assert_allclose(got[:, 0], stats.norm.logsf((x[:, 0] - 0.5) / 2.0))


def test_intervals_from_mask_are_end_exclusive_runs():
    mask = np.array([1, 1, 0, 0, 1, 0, 1], dtype=bool)
    assert intervals_from_mask(mask) == [(0, 2), (4, 5), (6, 7)]
    assert intervals_from_mask(np.zeros(5, dtype=bool)) == []


def test_bad_parameters_raise_clear_errors():
    X = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match="parameter score=.p. is not valid"):
        M2AD(score="p", **SMALL).fit(X)
    with pytest.raises(ValueError, match="error_types"):
        M2AD(error_types="slope", **SMALL).fit(X)
    with pytest.raises(ValueError, match="sensor_weights"):
        M2AD(sensor_weights=[1.0], **SMALL).fit(X)
