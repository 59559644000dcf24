"""Core pieces: validation, windows, thresholds, persistence (tampering, versions), registry, public API."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import anomalyforge
from anomalyforge.core.persistence import load_model
from anomalyforge.core.registry import make_detector
from anomalyforge.core.thresholds import (
    ContaminationThreshold,
    GammaThreshold,
    exponential_tail_threshold,
    make_threshold,
)
from anomalyforge.core.validation import check_series
from anomalyforge.core.windows import sliding_windows, window_starts, windows_to_steps

from .conftest import make_series


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "X, message",
    [
        (np.empty((0, 2)), "empty"),
        (np.zeros((3, 2, 2)), "1-D .* or 2-D"),
        (np.array([1.0, np.inf, 2.0]), "infinite"),
        (np.array([1.0, np.nan]), "NaN"),
        (np.array([["1", "x"]], dtype=object), "non-numeric"),
    ],
)
def test_check_series_errors_name_the_problem(X, message):
    with pytest.raises(ValueError, match=message):
        check_series(X)


def test_check_series_min_length_and_shapes():
    assert check_series([1, 2, 3]).shape == (3, 1)
    with pytest.raises(ValueError, match="3 time steps, at least 5"):
        check_series([1, 2, 3], min_length=5)


def test_window_longer_than_series_is_a_clear_error():
    with pytest.raises(ValueError, match="shorter than the window"):
        window_starts(10, 20)
    det = make_detector("iforest", window=50)
    with pytest.raises(ValueError, match="at least 50"):
        det.fit(make_series(30, 2))


@pytest.mark.parametrize("n, w, s", [(50, 7, 1), (50, 8, 3), (23, 5, 4), (10, 10, 1), (101, 10, 7)])
def test_windows_to_steps_matches_brute_force(n, w, s):
    rng = np.random.default_rng(n + w + s)
    starts = window_starts(n, w, s)
    assert starts[-1] == n - w  # the last step is always covered
    scores = rng.normal(size=len(starts))
    covering = [[i for i, a in enumerate(starts) if a <= t < a + w] for t in range(n)]
    np.testing.assert_allclose(
        windows_to_steps(scores, starts, w, n, "max"), [scores[c].max() for c in covering]
    )
    np.testing.assert_allclose(
        windows_to_steps(scores, starts, w, n, "mean"), [scores[c].mean() for c in covering]
    )


def test_sliding_windows_is_a_view_with_time_then_channels():
    X = np.arange(40.0).reshape(20, 2)
    windows, starts = sliding_windows(X, 5, 1)
    assert windows.shape == (16, 5, 2) and np.shares_memory(windows, X)
    np.testing.assert_array_equal(windows[3], X[3:8])
    strided, starts = sliding_windows(X, 5, 4)
    assert list(starts) == [0, 4, 8, 12, 15]
    np.testing.assert_array_equal(strided[-1], X[15:20])


# ----------------------------------------------------------------------------------------- thresholds
def test_contamination_threshold_is_a_training_quantile():
    scores = np.arange(1000.0)
    assert ContaminationThreshold(0.01).fit(scores) == pytest.approx(np.quantile(scores, 0.99))
    with pytest.raises(ValueError):
        ContaminationThreshold(0.7)


def test_contamination_threshold_with_ties_flags_the_nearest_reachable_rate():
    # 40 steps tie at the top: reachable rates are 0, 0.4, ...; the quantile (= the top score) flags 0.
    scores = np.r_[np.linspace(0.0, 1.0, 60), np.full(40, 2.0)]
    threshold = ContaminationThreshold(0.05).fit(scores)
    assert np.quantile(scores, 0.95) == 2.0 and (scores > threshold).mean() == pytest.approx(0.4)
    # ties below the top: reachable rates 0.01, 0.02, 0.10; the quantile (95) gives 0.02, but 0.10 is
    # nearer 0.05 in ratio (2x against 2.5x)
    tied = np.r_[np.arange(90.0), np.full(8, 95.0), 99.0, 100.0]
    assert np.mean(tied > np.quantile(tied, 0.95)) == pytest.approx(0.02)
    assert (tied > ContaminationThreshold(0.05).fit(tied)).mean() == pytest.approx(0.10)
    # without harmful ties the plain quantile is kept
    harmless = np.r_[np.arange(90.0), np.full(5, 90.0), np.full(3, 95.0), 99.0, 100.0]
    assert ContaminationThreshold(0.05).fit(harmless) == np.quantile(harmless, 0.95)
    assert ContaminationThreshold(0.05).fit(np.ones(50)) == 1.0  # constant: nothing can be flagged


@pytest.mark.parametrize("name", ["iforest", "knn", "pca"])
def test_predict_on_the_training_series_flags_about_contamination(name, monkeypatch):
    """With the default window 50 and the ``max`` mapping, every step of the top-scoring window takes its
    score, so the top 50 of the 500 steps tie: the achievable flag rates are quantised (0, then 50/500 =
    0.1, ...) and the rate nearest 0.05 in ratio is 0.1 (the plain quantile equalled the maximum and
    flagged 0 steps)."""
    train = make_series(500, 1, seed=1)
    det = make_detector(name, contamination=0.05)
    monkeypatch.setattr(type(det), "calibration_mode", "in-sample")  # the tie rule on the training scores
    det.fit(train)
    rate = det.predict(train).mean()
    assert 0.05 / 2 <= rate <= 0.05 * 2, rate
    assert rate == pytest.approx(0.1)
    np.testing.assert_array_equal(det.train_scores_, det.anomaly_score(train))  # the scores are unchanged


def test_exponential_tail_threshold_reads_a_rate_beyond_the_sample():
    """400 exponential scores: the 0.01 quantile rests on 4 of them; the tail fit recovers ln(100) = 4.6 (median
    over 50 samples within 10 %), and refuses rates of 0.1 and more or a tail without spread."""
    rng = np.random.default_rng(0)
    estimates = [exponential_tail_threshold(rng.exponential(size=400), 0.01) for _ in range(50)]
    assert abs(np.median(estimates) - np.log(100)) < 0.1 * np.log(100)
    assert exponential_tail_threshold(rng.exponential(size=400), 0.2) is None
    assert exponential_tail_threshold(np.r_[rng.exponential(size=340), np.full(60, 9.0)], 0.01) is None  # tied top


def test_a_short_training_series_still_gets_a_held_out_threshold():
    """600 steps at contamination 0.01: under 10 / contamination held-out scores, so the threshold is
    extrapolated from the out-of-fold scores' tail, not taken from in-sample scores; under 100 steps the
    threshold is in-sample and says so."""
    det = make_detector("zscore").fit(make_series(600, 2, seed=3))
    assert det.threshold_source_.startswith("held-out (out-of-fold") and "tail extrapolated" in det.threshold_source_
    assert det.threshold_ == pytest.approx(exponential_tail_threshold(det.calibration_scores_, 0.01))
    assert det.threshold_ > np.quantile(det.calibration_scores_, 0.9)
    short = make_detector("zscore").fit(make_series(90, 2, seed=3))
    assert short.threshold_source_ == "in-sample (training series too short)"


def test_gamma_threshold_false_positive_rate_near_p_value():
    rng = np.random.default_rng(0)
    train = rng.gamma(2.0, 1.5, size=200_000)
    fresh = rng.gamma(2.0, 1.5, size=200_000)
    threshold = GammaThreshold(0.01).fit(train)
    assert abs((fresh > threshold).mean() - 0.01) < 0.003


def test_threshold_specs():
    assert make_threshold(None, 0.05) == ContaminationThreshold(0.05)
    assert make_threshold(3.5).fit(np.zeros(3)) == 3.5
    assert isinstance(make_threshold("gamma"), GammaThreshold)
    with pytest.raises(ValueError, match="unknown threshold"):
        make_threshold("nope")


def test_detector_threshold_parameter_is_used_and_saved(tmp_path):
    train = make_series(300, 2)
    det = make_detector("zscore", threshold="gamma").fit(train)
    assert det.threshold_ == pytest.approx(GammaThreshold().fit(det.threshold_reference()))
    det2 = make_detector("zscore", threshold=GammaThreshold(0.05)).fit(train)
    loaded = load_model(det2.save(tmp_path / "z"))
    assert loaded.threshold == GammaThreshold(0.05) and loaded.threshold_ == det2.threshold_


# ---------------------------------------------------------------------------------------- persistence
def _fitted(tmp_path):
    det = make_detector("pca", window=8).fit(make_series(200, 2))
    return det, det.save(tmp_path / "model")


def _header(path):
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return raw, size, json.loads(raw[8 : 8 + size])


def _rewrite(path, raw, size, header):
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + size :])


def test_save_load_roundtrip_uses_no_pickle(tmp_path):
    det, path = _fitted(tmp_path)
    assert path.suffix == ".safetensors"
    assert b"pickle" not in path.read_bytes()[:200]
    X = make_series(120, 2, seed=5)
    np.testing.assert_allclose(load_model(path).anomaly_score(X), det.anomaly_score(X))


def test_metadata_is_saved_checksummed_and_returned(tmp_path):
    det = make_detector("pca", window=8).fit(make_series(200, 2))
    path = det.save(tmp_path / "m", metadata={"data_schema": {"channels": ["a", "b"]}})
    loaded, metadata = load_model(path, with_metadata=True)
    assert metadata == {"data_schema": {"channels": ["a", "b"]}}
    assert not hasattr(loaded, "data_schema_")  # metadata is not fitted state
    assert load_model(det.save(tmp_path / "plain"), with_metadata=True)[1] == {}
    with pytest.raises(TypeError, match="JSON-able"):
        det.save(tmp_path / "bad", metadata={"x": object()})
    raw, size, header = _header(path)
    config = json.loads(header["__metadata__"]["anomalyforge"])
    config["metadata"]["data_schema"]["channels"] = ["b", "a"]
    header["__metadata__"]["anomalyforge"] = json.dumps(config, sort_keys=True)
    _rewrite(path, raw, size, header)
    with pytest.raises(ValueError, match="modified after it was written"):
        load_model(path)


def test_tampered_weights_are_refused(tmp_path):
    _, path = _fitted(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip one byte of the stored arrays
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="modified after it was written"):
        load_model(path)


def test_tampered_config_is_refused(tmp_path):
    _, path = _fitted(tmp_path)
    raw, size, header = _header(path)
    config = json.loads(header["__metadata__"]["anomalyforge"])
    config["params"]["window"] = 4
    header["__metadata__"]["anomalyforge"] = json.dumps(config, sort_keys=True)
    _rewrite(path, raw, size, header)
    with pytest.raises(ValueError, match="modified after it was written"):
        load_model(path)


KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def test_signed_model_loads_with_its_key_only(tmp_path):
    from anomalyforge.core.persistence import key_id, sign_model

    det, path = _fitted(tmp_path)
    with pytest.raises(ValueError, match="is not signed; sign it with `anomalyforge sign"):
        load_model(path, key=KEY)
    assert sign_model(path, KEY) == key_id(KEY)
    X = make_series(60, 2, seed=3)
    np.testing.assert_allclose(load_model(path, key=KEY).anomaly_score(X), det.anomaly_score(X))
    assert load_model(path).registry_name == "pca"  # without a key the signature is not asked for
    with pytest.raises(ValueError, match="signed with another key"):
        load_model(path, key=OTHER_KEY)
    signed = det.save(tmp_path / "direct", key=OTHER_KEY)
    assert type(det).load(signed, key=OTHER_KEY).registry_name == "pca"


def test_signed_model_edited_and_rehashed_is_refused(tmp_path):
    from anomalyforge.core import persistence

    _, path = _fitted(tmp_path)
    persistence.sign_model(path, KEY)
    raw, size, header = _header(path)
    config = json.loads(header["__metadata__"]["anomalyforge"])
    config["params"]["window"] = 4
    edited = json.dumps(config, sort_keys=True)
    with persistence.safe_open(str(path), framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    header["__metadata__"]["anomalyforge"] = edited
    header["__metadata__"]["sha256"] = persistence._digest(edited, tensors)  # the forger recomputes the digest
    _rewrite(path, raw, size, header)
    load_model(path)  # the unkeyed digest is fooled ...
    with pytest.raises(ValueError, match="modified after it was signed"):
        load_model(path, key=KEY)  # ... the signature is not


def test_sign_refuses_a_damaged_file_and_short_keys(tmp_path, monkeypatch):
    from anomalyforge.core.persistence import MODEL_KEY_ENV, model_key, sign_model

    _, path = _fitted(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="not signing it"):
        sign_model(path, KEY)
    with pytest.raises(ValueError, match="at least 16"):
        model_key("short")
    monkeypatch.setenv(MODEL_KEY_ENV, "e" * 20)
    assert model_key() == b"e" * 20
    (tmp_path / "key").write_text("f" * 20 + "\n")
    assert model_key(key_file=tmp_path / "key") == b"f" * 20


def test_other_version_is_refused_with_clear_error(tmp_path, monkeypatch):
    _, path = _fitted(tmp_path)
    monkeypatch.setattr(anomalyforge, "__version__", "9.9.9")
    with pytest.raises(ValueError, match=r"written by anomalyforge 0\.1\.0, this is 9\.9\.9"):
        load_model(path)


def test_foreign_and_missing_files(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not written by anomalyforge"):
        load_model(tmp_path / "foreign.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_model(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.safetensors")


def test_loading_as_the_wrong_class_is_refused(tmp_path):
    from anomalyforge.detectors.classic import WindowIForest

    _, path = _fitted(tmp_path)
    with pytest.raises(TypeError, match="not a WindowIForest"):
        WindowIForest.load(path)


# ---------------------------------------------------------------------------------- registry and API
def test_registry_errors_and_lazy_api():
    with pytest.raises(KeyError, match="unknown detector 'nope'"):
        make_detector("nope")
    assert "iforest" in anomalyforge.list_detectors()
    assert anomalyforge.make_detector is make_detector
    det = make_detector("iforest", window=20)
    assert det.get_params()["window"] == 20 and det.set_params(window=30).window == 30


def test_refit_starts_clean_and_channel_mismatch_is_clear():
    det = make_detector("zscore").fit(make_series(100, 3))
    with pytest.raises(ValueError, match="X has 2 channels, ZScore was fitted on 3"):
        det.anomaly_score(make_series(50, 2))
    det.fit(make_series(100, 2))
    assert det.n_channels_in_ == 2


# ------------------------------------------------------------------------------------------- classic
def test_elliptic_falls_back_on_a_flat_training_series(tmp_path):
    train = np.zeros((300, 1))
    test = np.zeros((200, 1))
    test[100] = 5.0
    det = make_detector("elliptic").fit(train)
    assert det.support_fallback_
    scores = det.anomaly_score(test)
    assert np.isfinite(scores).all() and scores[96:105].min() > scores[:90].max()  # window 5 around step 100
    np.testing.assert_allclose(load_model(det.save(tmp_path / "e")).anomaly_score(test), scores)


def _with_flag_channels(n: int, seed: int) -> np.ndarray:
    """Two varying channels and two command-flag channels that stay 0 in training (as MSL's)."""
    x = make_series(n, 4, seed=seed)
    x[:, 2:] = 0.0
    return x


def test_pca_without_constant_features_scores_as_the_full_pca(tmp_path, monkeypatch):
    train, test = _with_flag_channels(600, 1), _with_flag_channels(300, 2)
    test[150:160, 3] = 1.0  # a flag set in test only: it must still count
    params = {"window": 10, "max_train_windows": 400}
    det = make_detector("pca", **params).fit(train)
    assert det.varying_ is not None and det.varying_.sum() == 2 * 10
    monkeypatch.setattr(type(det), "_drop_constant_features", False)
    full = make_detector("pca", **params).fit(train)
    assert full.varying_ is None
    np.testing.assert_allclose(det.anomaly_score(test), full.anomaly_score(test), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(det.channel_scores(test), full.channel_scores(test), rtol=1e-8, atol=1e-12)
    assert det.anomaly_score(test)[150:160].min() > np.quantile(det.anomaly_score(test)[:140], 0.99)
    np.testing.assert_allclose(load_model(det.save(tmp_path / "p")).anomaly_score(test), det.anomaly_score(test))
    # an integer n_components beyond the varying features is capped, not an error
    assert np.isfinite(make_detector("pca", **params, n_components=30).fit(train).anomaly_score(test)).all()


def test_elliptic_fits_the_varying_features_and_weighs_constant_ones_zero(tmp_path):
    train, test = _with_flag_channels(600, 1), _with_flag_channels(300, 2)
    det = make_detector("elliptic").fit(train)
    assert not det.support_fallback_ and det.varying_.sum() == 2 * 5
    assert det.model_.covariance_.shape == (10, 10)
    flagged = test.copy()
    flagged[:, 3] = 1.0  # a feature constant in training is the pseudo-inverse's null space, as before
    np.testing.assert_allclose(det.anomaly_score(flagged), det.anomaly_score(test))
    np.testing.assert_allclose(load_model(det.save(tmp_path / "e")).anomaly_score(test), det.anomaly_score(test))


def test_tuple_parameters_come_back_as_tuples(tmp_path):
    from anomalyforge.core.registry import make_generator

    gen = make_generator("rules", types=("global", "trend"))
    loaded = load_model(gen.fit(np.sin(np.arange(200) / 5.0)[:, None]).save(tmp_path / "rules"))
    assert loaded.get_params()["types"] == ("global", "trend")
