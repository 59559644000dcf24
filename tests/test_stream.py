"""core.stream.Stream: chunked scores equal batch scoring of the whole series, with bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge import Stream
from anomalyforge.core.base import BaseDetector
from anomalyforge.core.registry import DETECTORS, make_detector

from .conftest import make_series


def _stream_all(det, X, rng, sizes=(1, 1, 1, 2, 3, 7, 20)):
    stream = Stream(det)
    parts, i, expected_first = [], 0, 0
    while i < len(X):
        k = int(rng.choice(sizes))
        out = stream.update(X[i : i + k])
        assert out.first_step == expected_first  # steps come out in order, none twice, none skipped
        expected_first += len(out)
        parts.append(out.scores)
        i += k
    rest = stream.flush()
    assert rest.first_step == expected_first
    parts.append(rest.scores)
    return np.concatenate(parts), stream


def _fitted(name, **extra):
    det = make_detector(name, **{**DETECTORS.entry(name).test_params, **extra})
    channels = 2 if det.tags.multivariate else 1
    return det.fit(make_series(240, channels, seed=1)), make_series(131, channels, seed=2)


@pytest.mark.parametrize("name", DETECTORS.names())
def test_stream_equals_batch_for_every_detector(name):
    det, X = _fitted(name)
    scores, stream = _stream_all(det, X, np.random.default_rng(0))
    batch = det.anomaly_score(X)
    if det.tags.uses_torch:  # float32 networks: batch scoring itself moves this much with its batch size
        np.testing.assert_allclose(scores, batch, rtol=1e-6, atol=1e-6 * np.abs(batch).max())
    else:
        np.testing.assert_allclose(scores, batch, rtol=0, atol=1e-9)
    assert stream.n_emitted == len(X)


@pytest.mark.parametrize("how", ["max", "mean", "min", "last"])
@pytest.mark.parametrize("stride", [1, 3, 8])
def test_stream_equals_batch_for_every_mapping_and_stride(how, stride):
    det, X = _fitted("pca", how=how, score_stride=stride)
    for seed in range(3):  # different chunkings, series ends off and on the stride grid
        n = len(X) - seed
        scores, _ = _stream_all(det, X[:n], np.random.default_rng(seed))
        np.testing.assert_allclose(scores, det.anomaly_score(X[:n]), rtol=0, atol=1e-9)


def test_stream_latency_is_what_the_mapping_needs():
    det, X = _fitted("pca", how="max")
    stream = Stream(det)
    w = det.window
    assert stream.latency == w - 1
    assert len(stream.update(X[: w - 1])) == 0  # no window yet
    assert len(stream.update(X[w - 1 : w])) == 1  # the first window makes step 0 final
    assert Stream(_fitted("pca", how="last")[0]).latency == 0
    assert Stream(_fitted("zscore")[0]).latency == 0


def test_stream_of_a_million_rows_keeps_bounded_state():
    det = make_detector("pca", window=8, max_train_windows=200).fit(make_series(500, 2, seed=1))
    stream = Stream(det)
    rng = np.random.default_rng(0)
    chunk = 100_000
    n_out = 0
    for _ in range(10):
        out = stream.update(rng.normal(size=(chunk, 2)))
        n_out += len(out)
        assert stream.retained_rows <= det.window and stream.retained_windows <= det.window
    n_out += len(stream.flush())
    assert n_out == 10 * chunk
    z = Stream(make_detector("zscore").fit(make_series(100, 2)))
    for _ in range(10):
        assert len(z.update(rng.normal(size=(chunk, 2)))) == chunk
        assert z.retained_rows == 0


def test_stream_rejects_bad_rows_in_user_terms():
    det, X = _fitted("pca")
    stream = Stream(det)
    stream.update(X[:3])
    with pytest.raises(ValueError, match=r"step 4 .* missing"):
        stream.update(np.array([[0.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(k, 2\)"):
        stream.update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must be numbers"):
        stream.update([["a", "b"]])
    one_row = stream.update(X[3])  # a 1-D row of a multichannel series is one row
    assert stream.n_rows == 4 and len(one_row) == 0
    short = Stream(det)
    short.update(X[:3])
    with pytest.raises(ValueError, match="ended after 3 rows"):
        short.flush()


class _WholeSeriesMean(BaseDetector):
    """Scores depend on the whole series (its mean): nothing to stream exactly."""

    stream_limitation = "every score depends on the mean of the whole series"

    def __init__(self, contamination: float = 0.01, threshold=None):
        self.contamination, self.threshold = contamination, threshold

    def _fit(self, X, y):
        pass

    def _score(self, X):
        return np.abs(X - X.mean(axis=0)).max(axis=1)


def test_a_detector_that_cannot_stream_says_why():
    det = _WholeSeriesMean().fit(make_series(50, 2))
    with pytest.raises(NotImplementedError, match="_WholeSeriesMean cannot be streamed .* mean of the whole series"):
        Stream(det)
    undeclared = type("_Undeclared", (_WholeSeriesMean,), {"stream_limitation": ""})().fit(make_series(50, 2))
    with pytest.raises(NotImplementedError, match="no stream plan"):  # the default names what may be declared
        Stream(undeclared)


def test_flags_use_the_fitted_threshold():
    det, X = _fitted("zscore")
    X = X.copy()
    X[50] += 20
    out = Stream(det).update(X)
    np.testing.assert_array_equal(out.flags, det.predict(X))
    assert out.flags[50] == 1


@pytest.mark.parametrize("name", ["pca", "zscore", "m2ad", "auto"])
def test_restored_stream_continues_identically(name):
    import io

    det, X = _fitted(name)
    stream = Stream(det)
    head = [stream.update(X[i : i + 7]).scores for i in range(0, 60, 7)]
    state = stream.state_dict()
    buf = io.BytesIO()  # through a numpy file and back: what the service stores, no pickle
    arrays = {k: v for k, v in state["scorer"].items() if isinstance(v, np.ndarray)}
    np.savez(buf, **arrays)
    loaded = dict(np.load(io.BytesIO(buf.getvalue()), allow_pickle=False))
    state = {**state, "scorer": {**state["scorer"], **loaded}}
    restored = Stream.from_state(det, state)
    tail = [restored.update(X[i : i + 5]).scores for i in range(63, len(X), 5)] + [restored.flush().scores]
    original_tail = [stream.update(X[i : i + 5]).scores for i in range(63, len(X), 5)] + [stream.flush().scores]
    assert restored.n_rows == stream.n_rows == len(X) and restored.n_emitted == stream.n_emitted == len(X)
    np.testing.assert_array_equal(np.concatenate(tail), np.concatenate(original_tail))
    batch = det.anomaly_score(X)  # float32 torch models (m2ad) agree with batch scoring to float32 rounding
    atol = 1e-6 * np.abs(batch).max() if det.tags.uses_torch else 1e-9
    np.testing.assert_allclose(np.concatenate(head + tail), batch, rtol=0, atol=atol)


def test_stream_state_of_another_model_is_refused():
    det, _ = _fitted("pca")
    other, _ = _fitted("pca", window=det.window + 2)
    with pytest.raises(ValueError, match="another model"):
        Stream.from_state(other, Stream(det).state_dict())
