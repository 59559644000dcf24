"""Copula detector: it must see a break of inter-channel dependence that no single channel shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from anomalyforge.core.base import BaseGenerator, _declared_constraints
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import make_detector, make_generator
from anomalyforge.detectors.copula import CopulaDetector
from anomalyforge.detectors.copula.model import _StudentTQuantile

BREAK = slice(500, 800)
SMALL = dict(
    window=32, patch_len=8, d_model=16, n_heads=2, n_layers=1, latent_dim=1, epochs=12,
    max_train_windows=600, batch_size=64, time_budget=40.0,
)


class LocalBumps(BaseGenerator):
    """Throwaway generator: a level shift, a scale change or a short spike on one random channel."""

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, T, C = windows.shape
        for i in range(n):
            c, s, length = rng.integers(C), rng.integers(0, T // 2), rng.integers(T // 4, T // 2)
            kind = rng.integers(3)
            if kind == 0:
                windows[i, s : s + length, c] += rng.choice([-1, 1]) * rng.uniform(2, 4)
            elif kind == 1:
                windows[i, s : s + length, c] *= rng.uniform(2, 3)
            else:
                windows[i, s : s + 3, c] += rng.choice([-1, 1]) * 6
        return windows


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian AR(1) with unit variance."""
    x = np.empty(n)
    x[0] = rng.normal()
    noise = rng.normal(size=n) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def correlated(n: int, rng: np.random.Generator, channels: int = 4, rho: float = 0.95) -> np.ndarray:
    """Channels = rho * shared AR + sqrt(1 - rho^2) * own AR: each N(0, 1), pairwise correlation rho^2."""
    shared = ar1(n, 0.9, rng)
    return np.stack([rho * shared + np.sqrt(1 - rho**2) * ar1(n, 0.9, rng) for _ in range(channels)], axis=1)


@pytest.fixture(scope="module")
def break_case():
    """Train on correlated channels; in the test the last channel's sign flips inside BREAK.

    Gaussian AR noise is symmetric, so the flipped channel keeps exactly its marginal distribution (and its
    autocorrelation): only its dependence on the other channels changes (correlation +0.9 -> -0.9).
    """
    rng = np.random.default_rng(0)
    train = correlated(2000, rng)
    test = correlated(1300, rng)
    test[BREAK, 3] *= -1
    labels = np.zeros(len(test), dtype=bool)
    labels[BREAK] = True
    torch.manual_seed(0)
    det = CopulaDetector(generator=LocalBumps(), **SMALL).fit(train)
    return train, test, labels, det


def test_correlation_break_scores_far_above_per_channel_detectors(break_case):
    train, test, labels, det = break_case
    copula_auc = roc_auc_score(labels, det.anomaly_score(test))
    zscore_auc = roc_auc_score(labels, make_detector("zscore").fit(train).anomaly_score(test))
    per_channel = [
        make_detector("iforest", window=32, n_estimators=50).fit(train[:, [c]]).anomaly_score(test[:, [c]])
        for c in range(train.shape[1])
    ]
    iforest_auc = roc_auc_score(labels, np.max(per_channel, axis=0))
    print(f"\nAUROC of the break: copula {copula_auc:.3f}, zscore {zscore_auc:.3f}, iforest/channel {iforest_auc:.3f}")
    assert copula_auc > 0.85
    assert abs(zscore_auc - 0.5) < 0.15 and abs(iforest_auc - 0.5) < 0.15, "the break must be invisible per channel"
    assert copula_auc > max(zscore_auc, iforest_auc) + 0.25


def test_the_dependence_term_alone_flags_the_break(break_case):
    _, test, labels, det = break_case
    parts = det.score_components(test)
    aucs = {name: roc_auc_score(labels, s) for name, s in parts.items()}
    print(f"\nAUROC by term: { {k: round(v, 3) for k, v in aucs.items()} }")
    np.testing.assert_allclose(parts["total"], det.anomaly_score(test), rtol=1e-9)
    assert aucs["copula"] > 0.85, "the copula (dependence) term must flag the break by itself"
    assert aucs["copula"] > aucs["marginal"] + 0.3, "the marginal term must not be what flags it"
    det.set_params(terms="copula")
    try:
        np.testing.assert_allclose(det.anomaly_score(test), parts["copula"], rtol=1e-9)
    finally:
        det.set_params(terms="both")


def test_learned_correlation_is_a_valid_strong_correlation_matrix(break_case):
    _, _, _, det = break_case
    R = det.correlation()
    assert R.shape == (4, 4)
    np.testing.assert_allclose(R, R.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(R), 1.0, atol=1e-9)
    assert np.linalg.eigvalsh(R).min() > 0
    off = R[~np.eye(4, dtype=bool)]
    assert off.min() > 0.5, f"channels correlated at 0.9 should give strongly correlated latents, got {off}"


def test_student_t_copula_learns_its_degrees_of_freedom_and_fixed_df_stays():
    rng = np.random.default_rng(1)
    train = correlated(600, rng, channels=3)
    tiny = {**SMALL, "epochs": 3, "max_train_windows": 200, "d_model": 8}
    det = CopulaDetector(copula="student_t", generator=None, **tiny).fit(train)
    df = float(det.model_.density.copula.df().detach())
    assert df > 2 and abs(df - 5.0) > 1e-4, "df starts at 5 and must move when learned"
    assert np.isfinite(det.anomaly_score(train[:300])).all()
    fixed = CopulaDetector(copula="student_t", df=7.0, generator=None, **tiny).fit(train)
    assert float(fixed.model_.density.copula.df()) == 7.0


def test_student_t_quantile_gradients_match_finite_differences():
    cdf = torch.tensor([0.01, 0.3, 0.7, 0.999], dtype=torch.float64, requires_grad=True)
    df = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)

    def quantile(c: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
        return _StudentTQuantile.apply(c, 1 - c, nu)

    assert torch.autograd.gradcheck(quantile, (cdf, df), eps=1e-6, atol=1e-4)


def test_one_channel_and_generator_free_training_work():
    rng = np.random.default_rng(2)
    series = ar1(500, 0.8, rng)
    tiny = {**SMALL, "epochs": 2, "max_train_windows": 100, "d_model": 8}
    scores = CopulaDetector(generator=None, **tiny).fit(series).anomaly_score(series)
    assert scores.shape == (500,) and np.isfinite(scores).all()


def test_bad_parameters_raise_clear_errors():
    X = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match="parameter copula='frank'"):
        CopulaDetector(copula="frank", **SMALL).fit(X)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        CopulaDetector(d_model=10, n_heads=4).fit(X)
    with pytest.raises(ValueError, match="parameter terms='joint'"):
        CopulaDetector(terms="joint", **SMALL).fit(X)
    with pytest.raises(ValueError, match="parameter generator=3.5"):
        CopulaDetector(generator=3.5, **SMALL).fit(X)
    with pytest.raises(ValueError, match="parameter generator_budget=1.0"):
        CopulaDetector(generator_budget=1.0, **SMALL).fit(X)


def test_every_parameter_is_declared():
    missing = set(CopulaDetector().get_params(deep=False)) - set(_declared_constraints(CopulaDetector))
    assert not missing, f"CopulaDetector declares no constraint for {sorted(missing)}"


def test_time_budget_covers_the_generator():
    """The generator gets ``generator_budget`` of ``time_budget``, never more than its own budget."""
    now = [0.0]
    budget = Budget(50.0, clock=lambda: now[0])
    det = CopulaDetector(generator="genias", time_budget=50.0, generator_budget=0.3)
    assert det._generator(budget).time_budget == pytest.approx(15.0)
    own = make_generator("genias", time_budget=5.0)
    assert CopulaDetector(generator=own, time_budget=50.0)._generator(budget).time_budget == pytest.approx(5.0)
    assert CopulaDetector(generator=None)._generator(budget) is None


def test_deterministic_mode_seeds_the_generator_and_sets_no_clock():
    """time_budget=None: the default GenIAS gets no 120 s clock of its own and the detector's seed."""
    det = CopulaDetector(generator="genias", time_budget=None, random_state=4)
    gen = det._generator(Budget(None))
    assert gen.time_budget is None and gen.random_state == 4
    tiny_genias = make_generator("genias", epochs=2, hidden_channels=4, latent_channels=2, max_train_windows=32)
    assert tiny_genias.random_state is None and tiny_genias.time_budget == 120.0  # the generator's own defaults
    rng = np.random.default_rng(3)
    train = correlated(400, rng, channels=2)
    params = {**SMALL, "epochs": 2, "max_train_windows": 100, "d_model": 8, "time_budget": None}
    a = CopulaDetector(generator=tiny_genias, **params).fit(train)
    b = CopulaDetector(generator=tiny_genias, **params).fit(train)
    np.testing.assert_array_equal(a.anomaly_score(train), b.anomaly_score(train))
    summary = a.training_summary()
    assert set(summary["parts"]) == {"generator", "model"} and not summary["budget_cut"]
