"""URF: synthetic samples, forest proximity pieces, the detector's missing values and channel explanations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from anomalyforge.core.registry import make_detector
from anomalyforge.detectors.urf.features import feature_channels, window_features
from anomalyforge.detectors.urf.forest import (
    divergence_features,
    forest_layout,
    leaf_codes,
    mean_proximity,
    proximity,
    separating_splits,
    subtree_counts,
    uniform_synthetic,
)

from .conftest import make_series

SMALL = {"window": 8, "max_train_windows": 300, "n_estimators": 20, "n_reference": 100}


def test_uniform_synthetic_stays_in_bounds_and_copies_the_missing_share():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(2000, 3)) * [1.0, 5.0, 0.0]
    real[rng.random(2000) < 0.3, 1] = np.nan
    synth = uniform_synthetic(real, 4000, np.random.default_rng(1))
    lo, hi = np.nanmin(real, axis=0), np.nanmax(real, axis=0)
    ok = ~np.isnan(synth)
    assert ((synth >= lo) | ~ok).all() and ((synth <= hi) | ~ok).all()
    assert np.isnan(synth[:, [0, 2]]).sum() == 0
    assert abs(np.isnan(synth[:, 1]).mean() - 0.3) < 0.03
    assert (synth[:, 2] == 0).all()  # a constant feature stays constant
    np.testing.assert_array_equal(synth, uniform_synthetic(real, 4000, np.random.default_rng(1)))
    wide = uniform_synthetic(real, 4000, np.random.default_rng(1), margin=0.5)
    span = hi[0] - lo[0]
    assert wide[:, 0].min() < lo[0] - 0.4 * span and wide[:, 0].max() > hi[0] + 0.4 * span


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    X = np.vstack([real, uniform_synthetic(real, 300, rng)])
    y = np.r_[np.ones(300), np.zeros(300)]
    model = RandomForestClassifier(n_estimators=15, random_state=0, n_jobs=1).fit(X, y)
    return model, forest_layout(model), real


def test_proximity_pieces_agree(forest):
    model, layout, real = forest
    refs = leaf_codes(model, real[:120], layout.offsets)
    codes = leaf_codes(model, real[150:200], layout.offsets)
    dense = (codes[:, None, :] == refs[None, :, :]).mean(axis=2)
    np.testing.assert_allclose(proximity(codes, refs, int(layout.offsets[-1])), dense)
    counts = subtree_counts(refs, layout)
    np.testing.assert_array_equal(counts[layout.offsets[:-1]], 120)  # every reference passes each root
    np.testing.assert_allclose(mean_proximity(codes, counts, 120), dense.mean(axis=1))


def test_divergence_feature_is_the_split_where_paths_part(forest):
    model, layout, real = forest
    x, r = real[:40], real[40:80]
    a, b = leaf_codes(model, x, layout.offsets), leaf_codes(model, r, layout.offsets)
    split = divergence_features(a, b, layout)
    assert (split[a == b] == -1).all()
    paths = model.decision_path(np.vstack([x, r]))[0].toarray().astype(bool)
    for i in range(5):
        for t in range(3):
            lo, hi = layout.offsets[t], layout.offsets[t + 1]
            common = np.flatnonzero(paths[i, lo:hi] & paths[40 + i, lo:hi]) + lo
            deepest = common[np.argmax(layout.depth[common])]
            expected = -1 if a[i, t] == b[i, t] else layout.feature[deepest]
            assert split[i, t] == expected


def test_separating_splits_add_up_to_the_proximity_distance(forest):
    model, layout, real = forest
    refs = leaf_codes(model, real[:100], layout.offsets)
    counts = subtree_counts(refs, layout)
    codes = leaf_codes(model, real[200:230], layout.offsets)
    rows, features, separated = separating_splits(codes, counts, layout)
    assert (features >= 0).all()
    total = np.bincount(rows, weights=separated, minlength=30) / (codes.shape[1] * 100)
    np.testing.assert_allclose(total, 1.0 - mean_proximity(codes, counts, 100))


def test_window_features_layouts_map_to_channels():
    w = np.random.default_rng(0).normal(size=(5, 8, 3))
    raw, summary = window_features(w, "raw"), window_features(w, "summary")
    assert raw.shape == (5, 24) and summary.shape == (5, 18)
    np.testing.assert_allclose(summary[:, 3:6], w.std(axis=1))
    np.testing.assert_array_equal(feature_channels(24, 3)[[0, 1, 2, 3, 23]], [0, 1, 2, 0, 2])
    np.testing.assert_array_equal(raw[:, 4], w[:, 1, 1])  # step 1, channel 1
    w[0, 0, 1] = np.nan
    summary = window_features(w, "summary")
    assert np.isfinite(summary).all() and np.isclose(summary[0, 1], np.nanmean(w[0, :, 1]))
    with pytest.raises(ValueError, match="features"):
        window_features(w, "fft")


@pytest.mark.parametrize(
    ("score", "features"), [("mean", "raw"), ("knn", "raw"), ("mean", "summary"), ("knn", "summary")]
)
def test_channel_scores_sum_to_the_score(score, features):
    train, test = make_series(600, 3, seed=1), make_series(300, 3, seed=2)
    test[150:153, 1] += 6.0
    det = make_detector("urf", **SMALL, score=score, features=features, how="mean").fit(train)
    scores, shares = det.anomaly_score(test), det.channel_scores(test)
    assert shares.shape == (300, 3) and (shares >= 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), scores, atol=1e-12)
    # a spike in channel 1 raises channel 1's share most with summary features; with raw windows a value beyond
    # the training range falls with the range's edge in every split, and the splits that separate the window
    # from the references are as often the other channels' (a limit of forest partitions, not checked here)
    if features == "summary":
        around = shares[148:160].mean(axis=0) - np.median(shares, axis=0)
        assert np.argmax(around) == 1


def test_missing_values_are_handled_and_infinity_refused():
    train, test = make_series(500, 3, seed=1), make_series(300, 3, seed=2)
    train[::17, 0] = np.nan
    train[100:140, 2] = np.nan
    test[50:70, 1] = np.nan
    for features in ("raw", "summary"):
        det = make_detector("urf", **SMALL, features=features).fit(train)
        assert np.isfinite(det.train_scores_).all()
        assert np.isfinite(det.anomaly_score(test)).all() and np.isfinite(det.channel_scores(test)).all()
    all_missing = train.copy()
    all_missing[:, 1] = np.nan
    assert np.isfinite(make_detector("urf", **SMALL).fit(all_missing).anomaly_score(test)).all()
    test[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        det.anomaly_score(test)


def test_memory_is_bounded_by_the_batch(monkeypatch):
    """Scoring never compares more than a batch of windows with the references at once."""
    import anomalyforge.detectors.urf.detector as module

    seen = []
    original = module.proximity

    def spy(codes, refs, n_nodes):
        seen.append(len(codes))
        return original(codes, refs, n_nodes)

    monkeypatch.setattr(module, "proximity", spy)
    train, test = make_series(400, 2, seed=1), make_series(2000, 2, seed=2)
    make_detector("urf", **SMALL, score="knn", batch_size=128).fit(train).anomaly_score(test)
    assert seen and max(seen) <= 128
