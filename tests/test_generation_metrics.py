"""ARP, EDI and the Deep SVDD representation used for generation quality (GenIAS App. E)."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.validation import NotFittedError
from anomalyforge.metrics.generation import (
    DeepSVDDEmbedding,
    WindowFeatureEmbedding,
    _window_features,
    arp,
    edi,
    fit_regions,
    make_embedding,
)

from .conftest import make_series


def blobs(centers, n_each, seed=0, spread=0.01):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + spread * rng.normal(size=(n_each, len(c))) for c in np.asarray(centers, float)])


def test_arp_is_one_for_identical_sets_and_drops_with_distance():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(30, 8))
    assert arp(real, real) == pytest.approx(1.0)
    near, far = real + 0.1, real + 1.0
    assert arp(real, far) < arp(real, near) < 1.0
    # one real point at distance 3 from its nearest generated point: ARP = 1 / (1 + 3)
    assert arp(np.array([[3.0, 0.0]]), np.array([[0.0, 0.0], [-5.0, 0.0]])) == pytest.approx(0.25)
    # more generated anomalies can only bring real ones closer
    assert arp(real, np.vstack([far, near])) == pytest.approx(arp(real, near))


def test_arp_rejects_mismatched_or_bad_representations():
    with pytest.raises(ValueError, match="dims"):
        arp(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="shape"):
        arp(np.zeros((3, 4, 2)), np.zeros((3, 4, 2)))  # windows need an embedding
    with pytest.raises(ValueError, match="NaN"):
        arp(np.full((2, 2), np.nan), np.zeros((2, 2)))


def test_edi_zero_in_one_region_and_log_k_when_uniform():
    K = 4
    centers = np.eye(K) * 10
    reference = blobs(centers, 25)
    one_region = blobs(centers[:1], 40, seed=1)
    uniform = blobs(centers, 10, seed=2)
    assert edi(one_region, n_regions=K, reference=reference) == pytest.approx(0.0)
    assert edi(uniform, n_regions=K, reference=reference) == pytest.approx(np.log(K))
    assert edi(uniform, n_regions=K, reference=reference, normalize=True) == pytest.approx(1.0)
    half = blobs(centers[:2], 20, seed=3)
    assert edi(half, n_regions=K, reference=reference) == pytest.approx(np.log(2))
    regions = fit_regions(reference, K)
    assert edi(half, regions=regions) == pytest.approx(np.log(2))


def test_edi_uses_fewer_regions_when_the_reference_has_few_distinct_points():
    reference = np.repeat([[0.0, 0.0], [5.0, 5.0]], 10, axis=0)
    assert fit_regions(reference, 10).n_clusters == 2
    assert edi(reference, n_regions=10, normalize=True) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def embedding_and_data():
    rng = np.random.default_rng(0)
    series = make_series(60 * 32, 3, seed=1)
    normal = series.reshape(60, 32, 3)
    emb = DeepSVDDEmbedding(epochs=15, hidden=8, time_budget=None, random_state=0).fit(normal)
    return emb, normal, rng


def test_deep_svdd_embedding_shapes_determinism_and_one_class_separation(embedding_and_data):
    emb, normal, rng = embedding_and_data
    Z = emb.transform(normal[:5])
    assert Z.shape == (5, 128) and Z.dtype == np.float64 and np.isfinite(Z).all()
    again = DeepSVDDEmbedding(epochs=15, hidden=8, time_budget=None, random_state=0).fit(normal)
    np.testing.assert_allclose(again.transform(normal[:5]), Z, rtol=1e-5, atol=1e-6)
    assert emb.train_report_["epochs_run"] >= 1
    # windows with large spikes lie farther from the centre than the normal ones
    spiked = normal[:20].copy()
    spiked[:, 10:14, :] += 6.0
    assert np.median(emb.distance_to_center(spiked)) > np.quantile(emb.distance_to_center(normal), 0.9)


def test_embedding_arp_prefers_the_closer_generated_set(embedding_and_data):
    emb, normal, _ = embedding_and_data
    real = normal[:20].copy()
    real[:, 10:14, 0] += 4.0
    similar = normal[20:40].copy()
    similar[:, 12:16, 0] += 4.0
    unlike = normal[20:40] * -5.0 + 3.0
    assert arp(real, real, emb) == pytest.approx(1.0)
    assert arp(real, similar, emb) > arp(real, unlike, emb)
    value = edi(np.concatenate([similar, unlike]), emb, n_regions=4, normalize=True)
    assert 0.0 <= value <= 1.0


def test_embedding_errors(embedding_and_data):
    emb, normal, _ = embedding_and_data
    with pytest.raises(NotFittedError):
        DeepSVDDEmbedding().transform(normal)
    with pytest.raises(ValueError, match="channels"):
        emb.transform(normal[:, :, :2])
    with pytest.raises(ValueError, match="steps"):
        emb.transform(normal[:, :16])


def test_deep_svdd_scale_is_normalised_to_unit_normal_spread(embedding_and_data):
    emb, normal, _ = embedding_and_data
    rms = np.sqrt(emb.distance_to_center(normal).mean())
    assert rms == pytest.approx(1.0, rel=1e-4)
    raw = DeepSVDDEmbedding(epochs=15, hidden=8, time_budget=None, normalize_scale=False, random_state=0).fit(normal)
    assert raw.scale_ == 1.0
    np.testing.assert_allclose(raw.transform(normal[:5]) / emb.scale_, emb.transform(normal[:5]), rtol=1e-5, atol=1e-6)


def test_window_features_summarise_each_channel():
    W = np.zeros((2, 16, 2))
    W[1, 5, 0] = 4.0  # a spike in channel 0 of window 1
    F = _window_features(W, n_segments=4, n_bands=3).reshape(2, 2, 7 + 4 + 3)
    assert F.shape == (2, 2, 14) and np.isfinite(F).all()
    np.testing.assert_array_equal(F[0], 0.0)  # a flat window has no level, spread, change or spectrum
    np.testing.assert_array_equal(F[1, 1], 0.0)  # channel 1 untouched
    assert F[1, 0, 3] == 4.0 and F[1, 0, 5] == 4.0  # max and largest step
    assert F[1, 0, 7 + 1] == pytest.approx(1.0)  # mean of segment 4..7
    assert (F[1, 0, 11:] > 0).all()  # a spike has energy in every band
    ramp = np.arange(16.0)[None, :, None]
    assert _window_features(ramp, 4, 3)[0, 6] == pytest.approx(1.0)  # least-squares slope


@pytest.fixture(scope="module")
def feature_embedding_and_data():
    normal = make_series(60 * 32, 3, seed=1).reshape(60, 32, 3)
    return WindowFeatureEmbedding(random_state=0).fit(normal), normal


def test_feature_embedding_is_an_isometry_of_standardised_summaries(feature_embedding_and_data):
    emb, normal = feature_embedding_and_data
    a, b = normal[:10], normal[10:20].copy()
    b[:, 3:6, 1] += 5.0
    Z = emb.transform(np.concatenate([a, b]))
    assert Z.shape == (20, 128) and Z.dtype == np.float64
    Fz = (emb._features(np.concatenate([a, b])) - emb.feature_mean_) / emb.feature_std_  # 3 * 23 <= 128 summaries
    d_emb = np.linalg.norm(Z[:, None] - Z[None], axis=2)
    d_feat = np.linalg.norm(Fz[:, None] - Fz[None], axis=2) / emb.scale_
    np.testing.assert_allclose(d_emb, d_feat, rtol=1e-9, atol=1e-9)
    assert np.sqrt(emb.distance_to_center(normal).mean()) == pytest.approx(1.0)
    again = WindowFeatureEmbedding(random_state=0).fit(normal)
    np.testing.assert_array_equal(again.transform(a), emb.transform(a))


def test_feature_embedding_puts_anomalies_far_and_projects_many_channels():
    normal = make_series(60 * 32, 3, seed=1).reshape(60, 32, 3)
    emb = WindowFeatureEmbedding().fit(normal)
    spiked = normal[:20].copy()
    spiked[:, 10:14, :] += 6.0
    assert np.median(emb.distance_to_center(spiked)) > np.quantile(emb.distance_to_center(normal), 0.9)
    wide = make_series(40 * 16, 12, seed=2).reshape(40, 16, 12)  # 12 * 23 summaries > 128: random projection
    emb_wide = WindowFeatureEmbedding(dim=128).fit(wide)
    assert emb_wide.projection_.shape == (12 * 23, 128) and emb_wide.transform(wide[:3]).shape == (3, 128)


def test_make_embedding_and_feature_embedding_errors(feature_embedding_and_data):
    emb, normal = feature_embedding_and_data
    assert isinstance(make_embedding("features", dim=64), WindowFeatureEmbedding)
    assert isinstance(make_embedding("svdd"), DeepSVDDEmbedding)
    with pytest.raises(ValueError, match="svdd, features"):
        make_embedding("pca")
    with pytest.raises(NotFittedError):
        WindowFeatureEmbedding().transform(normal)
    with pytest.raises(ValueError, match="channels"):
        emb.transform(normal[:, :, :2])
    with pytest.raises(ValueError, match="steps"):
        emb.transform(normal[:, :16])
