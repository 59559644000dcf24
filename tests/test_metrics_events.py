"""Affiliation, range-based and PATE metrics: hand-computed cases, brute-force and reference cross-checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from anomalyforge.metrics import affiliation, pate, pate_f1, pate_fixed, range_precision_recall_f1


def _runs(x) -> list[tuple[int, int]]:
    """Inclusive (start, end) of the runs of ones, by a plain loop."""
    out, i, n = [], 0, len(x)
    while i < n:
        if x[i]:
            j = i
            while j + 1 < n and x[j + 1]:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def _random_pair(rng, n, n_true=4, n_pred=8, max_true=20, max_pred=15):
    y, p = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    for _ in range(rng.integers(1, n_true + 1)):
        a = rng.integers(0, n)
        y[a : a + rng.integers(1, max_true)] = 1
    for _ in range(rng.integers(0, n_pred + 1)):
        a = rng.integers(0, n)
        p[a : a + rng.integers(1, max_pred)] = 1
    return y, p


# ----------------------------------------------------------------------------------------- affiliation


def test_affiliation_hand_computed_single_point_prediction():
    # J = [40, 50), zone E = [0, 100]; prediction [60, 61).
    # precision: mean over x in [60, 61) of P(dist(X, J) >= x - 50) = mean((40 - d) + (50 - d)) / 100,
    # d from 10 to 11 -> (0.70 + 0.68) / 2 = 0.69.
    # recall: for y in J, d = 60 - y, P(|X - y| >= d) = ((2y - 60) + 40) / 100, mean over [40, 50) = 0.70.
    y = np.zeros(100, dtype=int)
    y[40:50] = 1
    p = np.zeros(100, dtype=int)
    p[60] = 1
    got = affiliation(y, p)
    assert got.precision == pytest.approx(0.69)
    assert got.recall == pytest.approx(0.70)
    assert got.f1 == pytest.approx(2 * 0.69 * 0.70 / 1.39)


def test_affiliation_perfect_near_far_and_empty():
    y = np.zeros(300, dtype=int)
    y[100:120] = 1
    y[200:210] = 1
    assert affiliation(y, y) == pytest.approx((1.0, 1.0, 1.0))
    near, far = affiliation(y, np.roll(y, 3)), affiliation(y, np.roll(y, 30))
    assert 1.0 > near.f1 > far.f1
    empty = affiliation(y, np.zeros_like(y))
    assert np.isnan(empty.precision) and empty.recall == 0.0 and empty.f1 == 0.0
    assert all(np.isnan(affiliation(np.zeros(10, dtype=int), np.ones(10, dtype=int))))


def test_affiliation_matches_reference_code_vendored_in_telemeval():
    pytest.importorskip("telemeval")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from telemeval.metrics._affiliation_vendor.generics import convert_vector_to_events
        from telemeval.metrics._affiliation_vendor.metrics import pr_from_events
    rng = np.random.default_rng(0)
    for _ in range(80):
        n = int(rng.integers(20, 250))
        y, p = _random_pair(rng, n)
        ref = pr_from_events(convert_vector_to_events(p), convert_vector_to_events(y), (0, n))
        got = affiliation(y, p)
        if np.isnan(ref["precision"]):
            assert np.isnan(got.precision)
        else:
            assert got.precision == pytest.approx(ref["precision"], abs=1e-10)
        assert got.recall == pytest.approx(ref["recall"], abs=1e-10)


# ----------------------------------------------------------------------------------------- range-based


def test_range_based_hand_computed():
    y = np.zeros(40, dtype=int)
    y[10:20] = 1
    shifted = np.zeros(40, dtype=int)
    shifted[15:25] = 1  # half of the true range, half outside
    flat = range_precision_recall_f1(y, shifted, alpha=0.0)
    assert (flat.precision, flat.recall) == pytest.approx((0.5, 0.5))
    # front bias: overlap = positions 6..10 of 10, weights 5..1 of 10..1 -> 15 / 55; back: 40 / 55
    assert range_precision_recall_f1(y, shifted, 0.0, bias="front").recall == pytest.approx(15 / 55)
    assert range_precision_recall_f1(y, shifted, 0.0, bias="back").recall == pytest.approx(40 / 55)
    assert range_precision_recall_f1(y, shifted, alpha=1.0).recall == 1.0  # existence only
    split = np.zeros(40, dtype=int)
    split[10:13] = 1
    split[15:18] = 1  # two predictions in one true range: 6 / 10 covered, cardinality 1 / 2
    assert range_precision_recall_f1(y, split, 0.0).recall == pytest.approx(0.3)
    assert range_precision_recall_f1(y, split, 0.0, cardinality="one").recall == pytest.approx(0.6)
    assert range_precision_recall_f1(y, split, 0.0).precision == pytest.approx(1.0)
    assert range_precision_recall_f1(y, y) == pytest.approx((1.0, 1.0, 1.0))
    assert range_precision_recall_f1(y, np.zeros_like(y)) == pytest.approx((0.0, 0.2 * 0, 0.0))


def _delta(t: int, length: int, bias: str) -> float:
    return {"flat": 1, "front": length - t + 1, "back": t, "middle": t if t <= length / 2 else length - t + 1}[bias]


def _range_brute(y, p, alpha, bias, cardinality):
    def score(a_runs, b_runs, al, bi):
        total = 0.0
        for s, e in a_runs:
            length = e - s + 1
            ov = [(max(s, bs), min(e, be)) for bs, be in b_runs if bs <= e and be >= s]
            den = sum(_delta(t, length, bi) for t in range(1, length + 1))
            omega = sum(_delta(t - s + 1, length, bi) for lo, hi in ov for t in range(lo, hi + 1)) / den
            factor = 1 if len(ov) <= 1 or cardinality == "one" else 1 / len(ov)
            total += al * (len(ov) > 0) + (1 - al) * factor * omega
        return total / len(a_runs)

    r_runs, p_runs = _runs(y), _runs(p)
    return (score(p_runs, r_runs, 0.0, bias) if p_runs else 0.0), score(r_runs, p_runs, alpha, bias)


@pytest.mark.parametrize("bias", ["flat", "front", "back", "middle"])
@pytest.mark.parametrize("cardinality", ["reciprocal", "one"])
def test_range_based_matches_brute_force(bias, cardinality):
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(10, 80))
        y, p = (rng.random(n) < 0.3).astype(int), (rng.random(n) < 0.3).astype(int)
        if not y.any():
            continue
        alpha = float(rng.random())
        precision, recall = _range_brute(y, p, alpha, bias, cardinality)
        got = range_precision_recall_f1(y, p, alpha, bias, cardinality, precision_bias=bias)
        assert (got.precision, got.recall) == pytest.approx((precision, recall), abs=1e-10)


def test_range_based_rejects_bad_arguments():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="alpha"):
        range_precision_recall_f1(y, y, alpha=1.5)
    with pytest.raises(ValueError, match="bias"):
        range_precision_recall_f1(y, y, bias="sideways")
    with pytest.raises(ValueError, match="time steps"):
        range_precision_recall_f1(y, y[:3])


# ----------------------------------------------------------------------------------------------- PATE


def _pate_brute(y, pred, early, delay):
    """PATE precision and recall of a binary prediction, point by point with the explicit distance sums."""
    n, runs = len(y), _runs(y)
    post_end, pre_start = [], []
    for k, (s, e) in enumerate(runs):
        nxt = runs[k + 1][0] if k + 1 < len(runs) else n
        post_end.append(min(e + delay, nxt - 1))
        pre_start.append(max(0, s - early, (post_end[k - 1] if k else -1) + 1))
    tp = fp = fn = 0.0
    for x in np.flatnonzero(pred):
        kind = None
        for k, (s, e) in enumerate(runs):
            if s <= x <= e:
                kind = ("anomaly", k)
            elif e < x <= post_end[k]:
                kind = ("delay", k)
            elif pre_start[k] <= x < s:
                kind = ("early", k)
        if kind is None:
            fp += 1
            continue
        k = kind[1]
        ys = range(runs[k][0], runs[k][1] + 1)
        if kind[0] == "anomaly":
            tp += 1
        elif kind[0] == "delay":
            w = 1 - sum(abs(x - v) for v in ys) / sum(abs(post_end[k] - v) for v in ys)
            tp, fp = tp + w, fp + 1 - w
        elif pred[runs[k][0] : runs[k][1] + 1].any():
            w = 1 - sum(abs(v - x) for v in ys) / sum(abs(v - pre_start[k]) for v in ys)
            tp, fp = tp + w, fp + 1 - w
        else:
            fp += 1
    for s, e in runs:
        seg = pred[s : e + 1].astype(bool)
        if not seg.any():
            fn += e - s + 1
        elif not seg.all():
            first = int(np.argmax(seg))
            run = next((i for i in range(first, seg.size) if not seg[i]), seg.size) - first
            worst = sum(abs(e - v) for v in range(s, e + 1))
            for q in range(s, e + 1):
                if not seg[q - s]:
                    fn += 1 if q <= s + run else 1 - sum(abs(q - v) for v in range(s, s + run + 1)) / worst
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def test_pate_f1_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(15, 120))
        y, p = _random_pair(rng, n, n_true=3, max_true=12)
        early, delay = int(rng.integers(0, 15)), int(rng.integers(0, 15))
        expected = []
        for e in (0, early):
            for d in (0, delay):
                precision, recall = _pate_brute(y, p, e, d)
                expected.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
        assert pate_f1(y, p, early, delay) == pytest.approx(np.mean(expected), abs=1e-10)


def test_pate_perfect_near_far_and_buffers():
    y = np.zeros(600, dtype=int)
    y[100:130] = 1
    y[400:420] = 1
    assert pate_f1(y, y, 20, 20) == pytest.approx(1.0)
    assert pate(y, y.astype(float), 20, 20) == pytest.approx(1.0)
    near, far = pate_f1(y, np.roll(y, 3), 20, 20), pate_f1(y, np.roll(y, 60), 20, 20)
    assert 1.0 > near > far
    # a late detection just after the anomaly earns credit only thanks to the delay buffer
    late = np.zeros_like(y)
    late[131:134] = 1
    late[421:424] = 1
    assert pate_f1(y, late, 0, 10) > 0.0 == pate_f1(y, late, 0, 0)
    # as scores, the curve still holds the "flag everything" point, whose precision is the contamination
    assert pate_fixed(y, late.astype(float), 0, 10) > pate_fixed(y, late.astype(float), 0, 0) > 0.0


def _pate_auc_brute(y, s, early, delay):
    """PATE of scores for one buffer pair: brute-force precision/recall at every candidate threshold (the
    thresholds themselves are checked below), area by the trapezoid rule through (recall 0, precision 1),
    skipping points whose recall falls below an earlier one."""
    from anomalyforge.metrics.pate import _thresholds

    points = [(0.0, 1.0)] + [_pate_brute(y, (s >= t).astype(int), early, delay)[::-1] for t in _thresholds(y, s, None)]
    kept, best = [], -np.inf
    for recall, precision in points:
        if recall >= best:
            kept.append((recall, precision))
            best = recall
    return sum((r2 - r1) * (p1 + p2) / 2 for (r1, p1), (r2, p2) in zip(kept[:-1], kept[1:], strict=True))


def test_pate_fixed_and_sweep_match_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(12):
        n = int(rng.integers(40, 120))
        y, _ = _random_pair(rng, n, n_true=3, max_true=12)
        s = np.round(rng.normal(size=n) + 1.2 * y, 1)  # rounded: tied scores too
        s[max(0, int(np.argmax(y)) - 3) : int(np.argmax(y))] += 1.0  # an early detection
        early, delay = int(rng.integers(1, 15)), int(rng.integers(1, 15))
        fixed = pate_fixed(y, s, early, delay, n_thresholds=None)
        assert fixed == pytest.approx(_pate_auc_brute(y, s, early, delay), abs=1e-10)
        sweep = np.mean([_pate_auc_brute(y, s, e, d) for e in (0, early) for d in (0, delay)])
        assert pate(y, s, early, delay, n_thresholds=None) == pytest.approx(sweep, abs=1e-10)
    assert np.isnan(pate(np.zeros(10, dtype=int), np.arange(10.0)))


def test_pate_thresholds_are_the_tp_changing_scores():
    # The PATE package takes sklearn's _binary_clf_curve thresholds (distinct scores, descending), drops
    # those whose TP count equals both neighbours', then keeps n percentiles. Recomputed plainly here.
    from anomalyforge.metrics.pate import _thresholds

    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.1).astype(int)
    s = np.round(rng.random(300), 2)  # ties
    distinct = np.unique(s)[::-1]
    tps = np.array([y[s >= t].sum() for t in distinct])
    keep = [i == 0 or i == tps.size - 1 or tps[i] != tps[i - 1] or tps[i + 1] != tps[i] for i in range(tps.size)]
    np.testing.assert_allclose(_thresholds(y, s, None), distinct[keep])
    np.testing.assert_allclose(_thresholds(y, s, 50), np.percentile(distinct[keep], np.linspace(100, 0, 50)))
