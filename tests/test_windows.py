"""The shared window pipeline: one ``how`` vocabulary, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.windows import (
    HOWS,
    WindowGather,
    WindowSpec,
    even_subsample,
    score_series,
    series_windows,
    training_windows,
    window_scores,
    window_starts,
    windows_to_steps,
)


def _covering(n: int, w: int, starts: np.ndarray) -> list[list[int]]:
    return [[i for i, a in enumerate(starts) if a <= t < a + w] for t in range(n)]


def test_mapping_last_max_min_on_a_small_case():
    starts = window_starts(10, 4, 3)  # [0, 3, 6]
    s = np.array([1.0, 5.0, 2.0])
    np.testing.assert_array_equal(windows_to_steps(s, starts, 4, 10, "last"), [1, 1, 1, 1, 5, 5, 5, 2, 2, 2])
    np.testing.assert_array_equal(windows_to_steps(s, starts, 4, 10, "max"), [1, 1, 1, 5, 5, 5, 5, 2, 2, 2])
    np.testing.assert_array_equal(windows_to_steps(s, starts, 4, 10, "min"), [1, 1, 1, 1, 5, 5, 2, 2, 2, 2])
    with pytest.raises(ValueError, match="how='median'"):
        windows_to_steps(s, starts, 4, 10, "median")


@pytest.mark.parametrize("n, w, s", [(50, 7, 1), (23, 5, 4), (101, 10, 7)])
def test_every_mapping_matches_brute_force(n, w, s):
    rng = np.random.default_rng(n * w + s)
    starts = window_starts(n, w, s)
    per_step = rng.normal(size=(len(starts), w))
    window_level = per_step.mean(axis=1)
    cover = _covering(n, w, starts)
    expected = {
        "max": [window_level[c].max() for c in cover],
        "mean": [window_level[c].mean() for c in cover],
        "min": [window_level[c].min() for c in cover],
        "last": [window_level[min(i for i in range(len(starts)) if starts[i] + w - 1 >= t)] for t in range(n)],
        "point": [np.mean([per_step[i, t - starts[i]] for i in c]) for t, c in enumerate(cover)],
    }
    assert set(expected) == set(HOWS)
    for how, want in expected.items():
        np.testing.assert_allclose(windows_to_steps(per_step, starts, w, n, how), want, rtol=1e-12, atol=1e-12)
        if how != "point":  # window-level scores give the same mapping as their per-step mean
            np.testing.assert_allclose(windows_to_steps(window_level, starts, w, n, how), want, rtol=1e-12)
    with pytest.raises(ValueError, match="per-step scores"):
        windows_to_steps(window_level, starts, w, n, "point")


@pytest.mark.parametrize("how", HOWS)
def test_score_series_in_batches_equals_mapping_all_windows_at_once(how):
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(97, 3))
    spec = WindowSpec(window=9, score_stride=4, how=how, batch_size=5)

    def model(batch: np.ndarray) -> np.ndarray:
        assert batch.flags.c_contiguous and batch.shape[1:] == (9, 3)
        return (batch**2).sum(axis=2)  # per-step scores

    starts = window_starts(97, 9, 4)
    direct = windows_to_steps(model(np.ascontiguousarray(series_windows(Z, 9)[starts])), starts, 9, 97, how)
    np.testing.assert_allclose(score_series(model, Z, spec), direct, rtol=1e-12)


def test_even_subsample_and_training_windows():
    np.testing.assert_array_equal(even_subsample(5, None), np.arange(5))
    np.testing.assert_array_equal(even_subsample(5, 10), np.arange(5))
    idx = even_subsample(1001, 11)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 11 and np.all(np.diff(idx) == 100)
    Z = np.arange(60.0).reshape(30, 2)
    tw = training_windows(Z, WindowSpec(window=5, train_stride=2, max_train_windows=4))
    assert isinstance(tw, WindowGather) and tw.shape == (4, 5, 2)
    np.testing.assert_array_equal(tw.starts, [0, 8, 18, 25])  # the last window always ends at the last step
    np.testing.assert_array_equal(tw.materialise()[1], Z[8:13])
    assert tw.flat().shape == (4, 10) and np.shares_memory(tw.view, Z)


def test_window_scores_returns_raw_batched_outputs_and_starts():
    Z = np.random.default_rng(5).normal(size=(50, 2))
    spec = WindowSpec(window=7, score_stride=3, batch_size=4)
    out, starts = window_scores(lambda b: np.stack([b.sum(axis=(1, 2)), b.max(axis=(1, 2))], axis=1), Z, spec)
    np.testing.assert_array_equal(starts, window_starts(50, 7, 3))
    np.testing.assert_allclose(out[:, 0], [Z[s : s + 7].sum() for s in starts], rtol=1e-12)
    assert out.shape == (len(starts), 2)
