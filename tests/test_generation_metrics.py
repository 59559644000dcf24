"""ARP, EDI and the Deep SVDD representation used for generation quality (GenIAS App. E)."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.validation import NotFittedError
from anomalyforge.metrics.generation import DeepSVDDEmbedding, arp, edi, fit_regions

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
