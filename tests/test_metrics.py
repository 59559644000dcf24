"""Point metrics, VUS and evaluate(): TSB-AD reference values, a direct VUS loop, input checks, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

from anomalyforge.metrics import (
    HEADLINE_KEYS,
    aupr,
    auroc,
    best_f1,
    best_pa_f1,
    estimate_sliding_window,
    evaluate,
    pa_f1,
    point_adjust,
    precision_recall_f1,
    vus,
    vus_pr,
)
from anomalyforge.metrics.reference import REFERENCE as _REFERENCE
from anomalyforge.metrics.reference import case1, case2

REFERENCE = [row[1:] for row in _REFERENCE]  # (make, sliding_window, expected)


@pytest.mark.parametrize(("make", "window", "expected"), REFERENCE)
def test_matches_tsb_ad_reference_values(make, window, expected):
    y, s = make()
    got = evaluate(y, s, sliding_window=window)
    for key, value in expected.items():
        # TSB-AD prints 6 decimals (rounding <= 5e-7); its F1 adds 1e-5 to the denominator (~5e-6 here)
        assert got[key] == pytest.approx(value, abs=1e-5 if key == "best_f1" else 1e-6), key


def _vus_direct(y: np.ndarray, s: np.ndarray, big_w: int, n_thr: int = 250) -> tuple[float, float]:
    """VUS written as plainly as the definition: loops over buffers, thresholds and ranges."""
    n = y.size
    runs = []
    i = 0
    while i < n:
        if y[i]:
            j = i
            while j + 1 < n and y[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    n_pos = y.sum()
    thr = np.sort(s)[::-1][np.linspace(0, n - 1, n_thr).astype(int)]
    aucs, aps = [], []
    for w in range(big_w + 1):
        h = w // 2
        soft = y.astype(float)
        for a, b in runs:
            for d in range(1, h + 1):
                if b + d < n:
                    soft[b + d] += np.sqrt(1 - d / w)
                if a - d >= 0:
                    soft[a - d] += np.sqrt(1 - d / w)
        soft = np.minimum(soft, 1.0)
        ranges = []  # extended ranges, merged when they overlap
        for a, b in runs:
            lo, hi = max(a - h, 0), min(b + h, n - 1)
            if ranges and ranges[-1][1] >= lo:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        tpr, fpr, prec = [0.0], [0.0], []
        for t in thr:
            pred = s >= t
            lab = np.where(y == 1, 1.0, soft * pred)
            tp = float(np.dot(lab, pred))
            p_new = (n_pos + lab.sum()) / 2
            exist = np.mean([pred[lo : hi + 1].any() for lo, hi in ranges])
            tpr.append(min(tp / p_new, 1) * exist)
            fpr.append((pred.sum() - tp) / (n - p_new))
            prec.append(tp / pred.sum())
        tpr_a, fpr_a = np.array(tpr + [1.0]), np.array(fpr + [1.0])
        aucs.append(np.sum(np.diff(fpr_a) * (tpr_a[1:] + tpr_a[:-1]) / 2))
        aps.append(np.sum(np.diff(np.array(tpr)) * np.array(prec)))
    return float(np.mean(aucs)), float(np.mean(aps))


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_vus_equals_direct_loop(seed):
    # short series with close, tiny and edge anomalies: overlapping ramps and merged ranges
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 160))
    y = np.zeros(n, dtype=int)
    for _ in range(rng.integers(1, 5)):
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(1, 6))] = 1
    y[0] = seed % 2  # an anomaly touching the start for some seeds
    s = rng.normal(size=n) + y * rng.random(n)
    s[rng.integers(0, n, 5)] = 0.0  # ties
    window = int(rng.integers(3, 30))
    roc, pr = _vus_direct(y, s, window, n_thr=40)
    got = vus(y, s, window, n_thresholds=40)
    assert got.roc == pytest.approx(roc, abs=1e-12)
    assert got.pr == pytest.approx(pr, abs=1e-12)


def test_best_f1_matches_sklearn_pr_curve_and_reports_operating_point():
    y, s = case2()
    precision, recall, _ = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    best = best_f1(y, s)
    assert best.f1 == pytest.approx(f1.max(), abs=1e-12)
    p, r, f = precision_recall_f1(y, (s >= best.threshold).astype(int))
    assert (p, r, f) == pytest.approx((best.precision, best.recall, best.f1))


def test_point_adjust_and_pa_f1_inflate():
    y = np.array([0, 1, 1, 1, 1, 0, 0, 1, 1, 0])
    pred = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(point_adjust(y, pred), [0, 1, 1, 1, 1, 0, 1, 0, 0, 0])
    # adjusted: TP = 4, FP = 1, FN = 2 -> F1 = 8 / 11; unadjusted F1 = 2 / 8
    assert pa_f1(y, pred) == pytest.approx(8 / 11)
    assert precision_recall_f1(y, pred)[2] == pytest.approx(2 / 8)
    ys, ss = case1()
    assert best_pa_f1(ys, ss).f1 >= best_f1(ys, ss).f1 + 0.3  # one hit per segment flags all 70 points


def test_random_scores_on_long_series():
    rng = np.random.default_rng(0)
    n = 20_000
    y = np.zeros(n, dtype=int)
    for a in range(500, n, 2000):
        y[a : a + 100] = 1
    s = rng.random(n)
    assert auroc(y, s) == pytest.approx(0.5, abs=0.03)
    assert aupr(y, s) == pytest.approx(y.mean(), abs=0.02)
    # the PA pitfall: random scores get a high point-adjusted F1, not a high plain F1
    assert best_pa_f1(y, s).f1 > 0.5 > best_f1(y, s).f1


def test_constant_scores():
    y, _ = case2()
    s = np.full(y.size, 0.3)
    assert auroc(y, s) == pytest.approx(0.5)
    assert aupr(y, s) == pytest.approx(y.mean())
    best = best_f1(y, s)  # the only threshold flags everything
    assert best.recall == 1.0 and best.f1 == pytest.approx(2 * y.mean() / (1 + y.mean()))
    result = evaluate(y, s, sliding_window=10)
    assert all(np.isfinite(result[k]) for k in HEADLINE_KEYS)


def test_no_anomaly_gives_nan_everywhere_and_one_class_edge_cases():
    y = np.zeros(50, dtype=int)
    s = np.linspace(0, 1, 50)
    result = evaluate(y, s)
    assert all(np.isnan(result[k]) for k in HEADLINE_KEYS)
    assert np.isnan(vus_pr(y, s)) and np.isnan(best_f1(y, s).f1) and np.isnan(auroc(y, s))
    ones = np.ones(50, dtype=int)
    assert np.isnan(auroc(ones, s)) and np.isnan(vus(ones, s).pr)
    assert aupr(ones, s) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1, 0], [0.1, 0.2], "time steps"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "NaN"),
        ([0, 1, 0], [0.1, np.inf, 0.3], "NaN or infinite"),
        ([0, 2, 0], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 0.5, 0], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([[0, 1, 0]], [0.1, 0.2, 0.3], "1-D"),
        ([], [], "empty"),
    ],
)
def test_bad_input_raises_clear_value_error(y, s, match):
    for metric in (evaluate, auroc, aupr, best_f1, best_pa_f1, vus):
        with pytest.raises(ValueError, match=match):
            metric(y, s)


def test_bad_parameters():
    y, s = case2()
    with pytest.raises(ValueError, match="sliding_window"):
        vus(y, s, sliding_window=-1)
    with pytest.raises(ValueError, match="n_thresholds"):
        vus(y, s, n_thresholds=0)


def test_bool_and_float_labels_accepted():
    y, s = case2()
    assert evaluate(y.astype(bool), s)["vus_pr"] == pytest.approx(evaluate(y.astype(float), s)["vus_pr"])


def test_estimate_sliding_window_finds_the_period():
    t = np.arange(5000)
    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * t / 50) + 0.1 * rng.normal(size=t.size)
    assert abs(estimate_sliding_window(x) - 50) <= 1
    assert abs(estimate_sliding_window(np.column_stack([x, rng.normal(size=t.size)])) - 50) <= 1
    assert estimate_sliding_window(np.ones(1000)) == 125  # no period -> TSB-AD fallback


def test_evaluate_is_fast_on_100k_steps():
    rng = np.random.default_rng(0)
    n = 100_000
    y = np.zeros(n, dtype=int)
    for a in np.arange(20) * 4900 + 300:
        y[a : a + int(rng.integers(20, 300))] = 1
    s = rng.normal(size=n) + 1.5 * y
    start = time.process_time()  # CPU seconds of this process: other processes' load does not count
    result = evaluate(y, s)
    elapsed = time.process_time() - start
    assert elapsed < 10.0, f"evaluate took {elapsed:.1f} CPU s on n=100k"  # ~0.2 s; quadratic would be minutes
    assert 0.0 < result["vus_pr"] < 1.0
