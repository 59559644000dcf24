"""Channel attribution: the model's own decomposition where there is one, occlusion otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.attribution import channel_attribution, occlusion_drops, top_channels
from anomalyforge.core.registry import make_detector


def _series(n=400, C=5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(t / (4 + np.arange(C))) + 0.1 * rng.normal(size=(n, C))


@pytest.fixture(scope="module")
def data():
    train, test = _series(seed=0), _series(seed=1)
    test[200:210, 3] += 4.0  # channel 3 is the anomaly
    return train, test


TINY = {
    "zscore": {},
    "pca": {"window": 8, "max_train_windows": 300},
    "knn": {"window": 8, "max_train_windows": 300},
    "iforest": {"window": 8, "max_train_windows": 300, "n_estimators": 30},
    "autoencoder": {"window": 6, "hidden1": 16, "hidden2": 8, "epochs": 15, "max_train_windows": 300},
    "m2ad": {"window": 16, "hidden_size": 8, "epochs": 2, "max_train_windows": 200, "batch_size": 32},
}


@pytest.mark.parametrize("name", list(TINY))
def test_attribution_points_at_the_anomalous_channel(name, data):
    train, test = data
    det = make_detector(name, **TINY[name]).fit(train)
    att = channel_attribution(det, test, 200, 209)
    assert att.shape == (5,) and (att >= 0).all() and att.sum() == pytest.approx(1.0)
    assert int(np.argmax(att)) == 3
    assert top_channels(att, 2)[0] == 3


@pytest.mark.parametrize("name", ["zscore", "pca", "autoencoder", "m2ad"])
def test_channel_scores_decompose_the_score(name, data):
    train, test = data
    params = {**TINY[name], "how": "mean"} if name == "pca" else TINY[name]  # "max" of a mean is no mean of maxima
    det = make_detector(name, **params).fit(train)
    assert det.tags.channel_scores
    parts = det.channel_scores(test)
    assert parts.shape == test.shape and (parts >= 0).all()
    if name in ("pca", "autoencoder"):  # the score is the mean of the channels' errors
        np.testing.assert_allclose(parts.mean(axis=1), det.anomaly_score(test), rtol=1e-5, atol=1e-8)
    if name == "zscore":
        np.testing.assert_allclose(parts.max(axis=1), det.anomaly_score(test))


def test_detectors_without_a_decomposition_say_so(data):
    det = make_detector("knn", **TINY["knn"]).fit(data[0])
    assert not det.tags.channel_scores
    with pytest.raises(NotImplementedError, match="occlusion"):
        det.channel_scores(data[1])
    with pytest.raises(ValueError, match="no per-channel decomposition"):
        channel_attribution(det, data[1], 10, 20, method="model")


def test_occlusion_on_laid_end_to_end_copies_equals_one_by_one(data):
    train, test = data
    det = make_detector("pca", **TINY["pca"]).fit(train)
    piece = test[180:230]
    together = occlusion_drops(det, piece, 15, 35)
    apart = occlusion_drops(det, piece, 15, 35, separate=True)
    np.testing.assert_allclose(together, apart, rtol=1e-9, atol=1e-12)


def test_occlusion_and_model_agree_on_the_top_channel_and_edges_work(data):
    train, test = data
    det = make_detector("pca", **TINY["pca"]).fit(train)
    assert np.argmax(channel_attribution(det, test, 200, 209, method="occlusion")) == 3
    for start, end in [(0, 3), (395, 399), (0, 399)]:  # the series' edges, the whole series
        att = channel_attribution(det, test, start, end, method="occlusion")
        assert att.shape == (5,) and (att >= 0).all()


def test_bad_intervals_and_top_channels():
    det = make_detector("zscore").fit(_series())
    with pytest.raises(ValueError, match="not inside the series"):
        channel_attribution(det, _series(), 10, 400)
    with pytest.raises(ValueError, match="not inside the series"):
        channel_attribution(det, _series(), 20, 10)
    assert list(top_channels(np.array([0.1, 0.5, 0.0, 0.4]), 3)) == [1, 3, 0]
    assert list(top_channels(np.array([0.0, 0.7, 0.0, 0.3]), 3)) == [1, 3]
    assert list(top_channels(np.zeros(3), 2)) == []


def test_occlusion_copies_stay_aligned_with_a_scoring_stride(data):
    train, test = data
    det = make_detector("knn", **TINY["knn"], score_stride=3).fit(train)
    piece = test[180:231]  # 51 steps: not a multiple of the stride
    np.testing.assert_allclose(occlusion_drops(det, piece, 15, 35), occlusion_drops(det, piece, 15, 35, separate=True))


def test_vanad_channel_scores_are_its_per_channel_reconstruction_error(data):
    from anomalyforge.core.registry import DETECTORS

    train, test = data
    det = make_detector("vanad", **DETECTORS.entry("vanad").test_params).fit(train)
    parts = det.channel_scores(test)
    assert parts.shape == test.shape and (parts >= 0).all() and np.isfinite(parts).all()
    att = channel_attribution(det, test, 200, 209)
    assert att.shape == (5,) and att.sum() == pytest.approx(1.0)
