"""Specific checks of the rule-based injectors (CARLA types, their mix, CutAddPaste, NCAD)."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.registry import make_generator
from anomalyforge.generators.rules import (
    CARLA_TYPES,
    apply_points,
    apply_seasonal,
    apply_shapelet,
    apply_trend,
    channel_scale,
)

from .conftest import make_series

T = 64
ALL = [*CARLA_TYPES, "rules", "cutaddpaste", "ncad"]


def windows(n=40, channels=3, seed=0):
    return make_series(n * T, channels, seed=seed).reshape(n, T, channels)


def runs(flags):
    """(start, end) of the runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(int), [0]))))
    return list(zip(edges[::2], edges[1::2], strict=True))


# ------------------------------------------------------------------------------------- pure operations
def test_operations_change_only_the_given_segment_and_channels():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(T, 5))
    ch = np.array([1, 3])
    for op in (
        lambda x: apply_seasonal(x, 10, 20, ch, 3),
        lambda x: apply_shapelet(x, 10, 20, ch, rng.uniform(0.01, 0.1, size=(20, 2))),
        lambda x: apply_points(x, 10, 3, ch, 8.0, channel_scale(x), np.ones((3, 2))),
    ):
        x = w.copy()
        op(x)
        changed = x != w
        assert changed.any()
        assert not changed[:10].any() and not changed[30:].any()
        assert not changed[:, [0, 2, 4]].any()
    x = w.copy()
    apply_trend(x, 25, ch, np.array([0.5, -2.0]))
    np.testing.assert_allclose((x - w)[25:, ch], np.tile([0.5, -2.0], (T - 25, 1)))
    assert not (x != w)[:25].any()


def test_seasonal_is_a_faster_resampling_of_the_segment():
    w = np.arange(T, dtype=float)[:, None]
    apply_seasonal(w, 0, 10, np.array([0]), 2)
    np.testing.assert_array_equal(w[:10, 0], [0, 2, 4, 6, 8, 0, 2, 4, 6, 8])


def test_channel_scale_uses_an_absolute_floor_for_constant_channels():
    w = np.zeros((T, 3))
    w[:, 1] = 5.0
    w[:, 2] = np.sin(np.arange(T))
    s = channel_scale(w, min_scale=0.1)
    assert s[0] == pytest.approx(0.1) and s[1] == pytest.approx(0.5)
    assert s[2] == pytest.approx(w[:, 2].std())


# ------------------------------------------------------------------------------------------ generators
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("channels", [1, 38])
def test_mask_exact_and_changes_on_allowed_channels(name, channels):
    W = windows(12, channels)
    out = make_generator(name).generate(W, n_per_window=3, random_state=0)
    np.testing.assert_array_equal(out.mask, out.patched != W[out.source])
    per_window = out.mask.any(axis=1).sum(axis=1)  # changed channels per window
    assert (per_window >= 1).all()
    assert (per_window <= max(1, channels // 2)).all()
    if channels == 38 and name in CARLA_TYPES and name != "seasonal":
        assert (per_window >= 3).all()


@pytest.mark.parametrize("name", ALL)
def test_univariate_and_constant_windows_are_changed(name):
    gen = make_generator(name)
    for W in (np.zeros((5, T)), np.full((5, T, 2), 7.0), windows(5, 1)[:, :, 0]):
        out = gen.generate(W, random_state=1)
        assert out.mask.reshape(len(W), -1).any(axis=1).all()
        assert np.isfinite(out.patched).all()


def test_seasonal_change_lies_in_one_segment_of_at_most_90_percent():
    W = windows(30)
    out = make_generator("seasonal").generate(W, random_state=2)
    for m in out.step_mask:
        steps = np.flatnonzero(m)
        assert steps[-1] - steps[0] + 1 <= int(0.9 * T)  # all changes inside one segment
        assert steps[0] >= 1  # a resampled segment keeps its first value


def test_trend_is_a_step_offset_to_the_end_of_the_window():
    W = windows(30, 4)
    out = make_generator("trend").generate(W, random_state=3)
    diff = out.patched - W[out.source]
    scale = np.stack([channel_scale(w) for w in W])
    for d, m, sc in zip(diff, out.mask, scale, strict=True):
        for c in np.flatnonzero(m.any(axis=0)):
            start = np.flatnonzero(m[:, c])[0]
            assert m[start:, c].all() and start >= 0  # from the start to the window's end
            np.testing.assert_allclose(d[start:, c], d[start, c])  # one constant offset
            assert abs(d[start, c]) >= 0.1 * sc[c] - 1e-12
            assert start <= T - int(np.ceil(0.1 * T))


@pytest.mark.parametrize(("name", "n_points", "factor"), [("global", 3, 8.0), ("contextual", 5, 3.0)])
def test_point_types_change_a_few_consecutive_points_far_from_the_mean(name, n_points, factor):
    W = windows(30, 3)
    out = make_generator(name).generate(W, random_state=4)
    for w, p, m in zip(W[out.source], out.patched, out.mask, strict=True):
        steps = np.flatnonzero(m.any(axis=1))
        assert 1 <= len(steps) <= n_points and np.ptp(steps) < n_points
        mean, scale = w.mean(axis=0), channel_scale(w)
        rows, cols = np.nonzero(m)
        assert (np.abs(p[rows, cols] - mean[cols]) >= factor * scale[cols] * (1 - 1e-9)).all()


def test_shapelet_flattens_to_the_first_value_plus_small_noise():
    W = windows(30, 3)
    out = make_generator("shapelet").generate(W, random_state=5)
    for w, p, m in zip(W[out.source], out.patched, out.mask, strict=True):
        scale = channel_scale(w)
        for c in np.flatnonzero(m.any(axis=0)):
            (s, e), = runs(m[:, c])
            extra = p[s:e, c] - w[s, c]
            assert (extra >= 0).all() and (extra <= 0.1 * scale[c]).all()
            assert int(np.ceil(0.1 * T)) - 1 <= e - s <= int(0.9 * T)


def test_rules_mix_uses_every_type():
    W = windows(200, 2)
    out = make_generator("rules").generate(W, random_state=6)
    n_steps = out.step_mask.sum(axis=1)
    few = (n_steps <= 5).mean()  # global and contextual windows
    assert 0.25 < few < 0.55
    reaches_end = out.step_mask[:, -1].mean()  # trend always reaches the window's end
    assert reaches_end > 0.15
    with pytest.raises(ValueError, match="types"):
        make_generator("rules", types=("spike",)).generate(W[:2])


def test_cutaddpaste_pastes_a_linear_trended_piece_of_a_batch_window():
    W = np.stack([np.zeros((T, 2)), np.full((T, 2), 10.0)])
    out = make_generator("cutaddpaste").generate(W, n_per_window=20, random_state=7)
    for p, m in zip(out.patched, out.mask, strict=True):
        for c in np.flatnonzero(m.any(axis=0)):
            (s, e), = runs(m[:, c])
            assert e - s >= 2 or e == T or s == 0
            if e - s >= 3:
                np.testing.assert_allclose(np.diff(p[s:e, c], 2), 0.0, atol=1e-9)


def test_ncad_point_outliers_stay_in_the_suspect_window():
    W = windows(30, 4)
    out = make_generator("ncad", coe_prob=0.0, suspect_length=0.1, max_points=3).generate(W, random_state=8)
    suspect = int(round(0.1 * T))
    steps = np.nonzero(out.step_mask)[1]
    assert steps.min() >= T - suspect
    assert (out.step_mask.sum(axis=1) <= 3).all()


def test_ncad_coe_swaps_a_suffix_from_another_window():
    W = np.stack([np.full((T, 3), float(k)) for k in range(6)])
    out = make_generator("ncad", coe_prob=1.0).generate(W, n_per_window=4, random_state=9)
    for src, p, m in zip(out.source, out.patched, out.mask, strict=True):
        rows, cols = np.nonzero(m)
        values = np.unique(p[rows, cols])
        assert len(values) == 1 and values[0] != src and values[0] in range(6)  # one donor window
        for c in np.unique(cols):
            (s, e), = runs(m[:, c])
            assert e == T and T - s >= int(round(0.1 * T))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("seasonal", {"min_length": 0.0}),
        ("seasonal", {"compression": (1, 3)}),
        ("trend", {"max_length": 1.5}),
        ("global", {"factor": 0.5}),
        ("contextual", {"n_points": 0}),
        ("shapelet", {"noise": 0.0}),
        ("cutaddpaste", {"trend_rate": 0.0}),
        ("ncad", {"coe_prob": 2.0}),
        ("trend", {"min_scale": 0.0}),
    ],
)
def test_bad_parameters_raise_clear_errors(name, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        make_generator(name, **params).generate(windows(2))
