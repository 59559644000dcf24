"""Checks run over every registered detector and generator (DESIGN.md: no hand-kept lists of models).

A registry entry's ``test_params`` make the models tiny; a class may exempt itself from a check with a
``common_check_exemptions = {check_name: reason}`` class attribute.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from anomalyforge.core.base import BaseDetector, BaseGenerator
from anomalyforge.core.registry import DETECTORS, GENERATORS
from anomalyforge.core.validation import NotFittedError

from .conftest import make_series

DETECTOR_NAMES = DETECTORS.names()
GENERATOR_NAMES = GENERATORS.names()

N_TRAIN, N_TEST = 400, 300


def build(registry, name, **extra):
    """The registered object with its small test parameters."""
    return registry.make(name, **{**registry.entry(name).test_params, **extra})


def exempt(obj, check):
    reason = getattr(obj, "common_check_exemptions", {}).get(check)
    if reason:
        pytest.skip(f"{type(obj).__name__} exempt from {check}: {reason}")


def data_for(det):
    channels = 3 if det.tags.multivariate else 1
    return make_series(N_TRAIN, channels, seed=1), make_series(N_TEST, channels, seed=2)


@pytest.fixture(scope="module")
def fitted():
    """Fit each detector once per module (lazily) and share it between checks."""
    cache = {}

    def get(name):
        if name not in cache:
            det = build(DETECTORS, name)
            train, test = data_for(det)
            cache[name] = (det.fit(train), train, test)
        return cache[name]

    return get


def test_registries_are_not_empty():
    assert "iforest" in DETECTOR_NAMES
    assert all(DETECTORS.describe()[n] for n in DETECTOR_NAMES), "every detector needs a description"


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_fit_returns_self_and_sets_fitted_attributes(name, fitted):
    det, train, test = fitted(name)
    assert isinstance(det, BaseDetector)
    assert det.n_channels_in_ == train.shape[1]
    assert det.train_scores_.shape == (train.shape[0],)
    assert np.isfinite(det.threshold_)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_scores_shape_finite_and_predict(name, fitted):
    det, _, test = fitted(name)
    scores = det.anomaly_score(test)
    assert scores.shape == (test.shape[0],) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(det.decision_function(test), scores)
    pred = det.predict(test)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (scores > det.threshold_).astype(np.int8))


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_unfitted_use_raises(name):
    det = build(DETECTORS, name)
    with pytest.raises(NotFittedError):
        det.anomaly_score(make_series(100, 1))


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_same_seed_same_scores(name, fitted):
    det, train, test = fitted(name)
    exempt(det, "same_seed_same_scores")
    if not det.tags.deterministic:
        pytest.skip("tagged non-deterministic")
    again = clone(det).fit(train)
    np.testing.assert_allclose(again.anomaly_score(test), det.anomaly_score(test), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_save_load_reproduces_scores(name, fitted, tmp_path):
    det, _, test = fitted(name)
    path = det.save(tmp_path / name)
    loaded = type(det).load(path)
    assert loaded.get_params() == det.get_params()
    np.testing.assert_allclose(loaded.anomaly_score(test), det.anomaly_score(test), rtol=1e-6, atol=1e-8)
    assert loaded.threshold_ == det.threshold_


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_planted_spike_scores_above_the_floor(name, fitted):
    det, _, test = fitted(name)
    exempt(det, "planted_spike")
    spiked = test.copy()
    spiked[150:153] += 8.0
    scores = det.anomaly_score(spiked)
    assert scores[148:156].max() > np.median(scores), "a large spike must score above the median step"
    assert scores[148:156].max() >= np.quantile(scores, 0.9)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_bad_input_raises_clear_errors(name, fitted):
    det, train, test = fitted(name)
    with pytest.raises(ValueError, match="channels"):
        det.anomaly_score(np.hstack([test, test[:, :1]]))
    if not det.tags.allow_nan:
        bad = test.copy()
        bad[10, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            det.anomaly_score(bad)
    with pytest.raises(ValueError, match="empty|time steps"):
        det.anomaly_score(np.empty((0, test.shape[1])))
    with pytest.raises(ValueError, match="non-numeric"):
        det.anomaly_score(np.array([["a"] * test.shape[1]] * 50, dtype=object))
    fresh = build(DETECTORS, name)
    with pytest.raises(ValueError, match="time steps"):
        fresh.fit(train[:1])


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_constant_channel_is_handled(name):
    det = build(DETECTORS, name)
    exempt(det, "constant_channel")
    train, test = data_for(det)
    if train.shape[1] == 1:
        pytest.skip("univariate")
    train[:, 1] = 3.0
    test[:, 1] = 3.0
    scores = det.fit(train).anomaly_score(test)
    assert np.isfinite(scores).all()


# ------------------------------------------------------------------------------------------ generators
def normal_windows(n=12, window=32, channels=3, seed=3):
    series = make_series(n * window, channels, seed=seed)
    return series.reshape(n, window, channels), series


@pytest.fixture(scope="module")
def fitted_generator():
    cache = {}

    def get(name):
        if name not in cache:
            gen = build(GENERATORS, name)
            windows, series = normal_windows()
            if gen.tags.requires_training:
                gen.fit(series)
            cache[name] = (gen, windows, series)
        return cache[name]

    return get


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_masks_are_exact_and_every_window_changes(name, fitted_generator):
    gen, windows, _ = fitted_generator(name)
    assert isinstance(gen, BaseGenerator)
    out = gen.generate(windows, n_per_window=2, random_state=0)
    src = windows[out.source]
    assert out.patched.shape == src.shape == out.mask.shape == out.anomalies.shape
    np.testing.assert_array_equal(out.mask, out.patched != src)
    assert out.mask.reshape(len(src), -1).any(axis=1).all()
    assert np.isfinite(out.patched).all()


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_same_seed_same_output(name, fitted_generator):
    gen, windows, _ = fitted_generator(name)
    a = gen.generate(windows, random_state=7)
    b = gen.generate(windows, random_state=7)
    np.testing.assert_array_equal(a.patched, b.patched)


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_inject_into_series(name, fitted_generator):
    gen, windows, series = fitted_generator(name)
    new, mask = gen.inject(series, n_anomalies=2, window=windows.shape[1], random_state=1)
    assert new.shape == series.shape and mask.shape == series.shape
    np.testing.assert_array_equal(mask, new != series)
    assert mask.any()


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_save_load(name, fitted_generator, tmp_path):
    gen, windows, _ = fitted_generator(name)
    loaded = type(gen).load(gen.save(tmp_path / name))
    np.testing.assert_allclose(
        loaded.generate(windows, random_state=3).patched, gen.generate(windows, random_state=3).patched, rtol=1e-6
    )


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_bad_input(name, fitted_generator):
    gen, windows, _ = fitted_generator(name)
    with pytest.raises(ValueError):
        gen.generate(np.full((2, 32, 3), np.nan))
    with pytest.raises(ValueError):
        gen.generate(np.zeros((2, 32, 3, 1)))
