"""What is specific to ``auto``: forged validation labels, tail calibration, selection record, cost bound."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import make_detector
from anomalyforge.detectors.auto.calibration import combine_scores, fit_tail_calibration, neg_log_p
from anomalyforge.detectors.auto.selection import candidate_grid, candidate_windows, forge_validation, holdout_plan

from .conftest import make_series

SMALL = {"select": "forged", "detectors": ("knn", "pca", "zscore"), "max_train_windows": 100, "time_budget": None}


def test_windows_follow_the_period_and_the_feature_cap():
    period, windows = candidate_windows(make_series(2000, 1), max_window_features=2000, max_window=1000)
    assert period == 25 and windows == [1, 12, 25, 50]
    _, windows = candidate_windows(make_series(2000, 40), max_window_features=400, max_window=1000)
    assert max(windows) <= 10  # 40 channels x 10 steps = 400 features


def test_grid_is_cheapest_first_and_keeps_elliptic_to_small_windows():
    grid = candidate_grid(("ocsvm", "knn", "elliptic", "zscore"), [1, 12, 25], n_channels=5)
    assert grid[0].label == "zscore"
    assert [c.label for c in grid if c.detector == "elliptic"] == ["elliptic@1", "elliptic@12"]
    assert grid[-1].detector == "ocsvm"


@pytest.mark.parametrize("generators", [("rules",), ("cutaddpaste", "ncad")])
def test_forged_labels_are_exact(generators):
    X = make_series(1200, 2, seed=4)
    plan = holdout_plan(X, 0.25, 5000, 2000)
    val = forge_validation(plan.X_fit, plan.X_val, generators, plan.length, max(plan.windows), Budget(None),
                           np.random.default_rng(0), 0)  # fmt: skip
    changed = (val.series != plan.X_val).any(axis=1)
    np.testing.assert_array_equal(val.labels.astype(bool), changed)
    assert val.labels.any() and not (val.null & changed).any() and val.null.sum() >= 20
    assert set(val.generators) <= set(generators)


def test_tail_calibration_is_monotone_and_unbounded():
    rng = np.random.default_rng(0)
    cal = fit_tail_calibration(rng.normal(size=500))
    s = np.linspace(-4, 20, 400)
    nl = neg_log_p(s, cal)
    assert np.all(np.diff(nl) >= -1e-12) and nl[-1] > nl[-50] > -np.log(0.1)  # no plateau above the null
    fisher = combine_scores(np.stack([nl, nl]), np.ones(2), "fisher")
    np.testing.assert_allclose(fisher, 2 * nl)
    ranks = combine_scores(np.stack([nl, nl]), np.ones(2), "mean_rank")
    assert ranks.min() >= 0 and ranks.max() <= 1


def test_fit_records_members_and_selection():
    X = make_series(800, 2, seed=1)
    det = make_detector("auto", **SMALL).fit(X)
    assert 1 <= len(det.members_) <= 3 == det.n_members
    assert len(det.member_labels_) == len(det.windows_) == len(det.weights_) == det.calibration_.shape[0]
    assert len({label.split("@")[0] for label in det.member_labels_}) == len(det.members_)  # distinct detectors
    part = det.training_summary()["parts"]["selection"]
    assert part["members"] == det.member_labels_ and part["stopped_by"] == "every candidate evaluated"
    assert set(det.selection_["candidates"]) >= set(det.member_labels_)


def test_time_budget_stops_selection_after_the_first_candidate(fake_clock):
    det = make_detector("auto", **{**SMALL, "time_budget": 1.0})
    fake_clock(1000.0)
    det.fit(make_series(800, 2, seed=1))
    assert det.selection_["stopped_by"] == "time budget" and len(det.selection_["candidates"]) == 1
    assert det.training_summary()["budget_cut"]


def test_too_short_training_series_falls_back_to_one_member():
    det = make_detector("auto", **SMALL).fit(make_series(150, 1))
    assert det.member_labels_ == ["knn@25"] and "too short" in det.selection_["stopped_by"]
    assert np.isfinite(det.anomaly_score(make_series(100, 1, seed=3))).all()


def test_long_series_scores_in_bounded_memory():
    tracemalloc = pytest.importorskip("tracemalloc")
    det = make_detector("auto", **SMALL).fit(make_series(3000, 2, seed=1))
    X = make_series(100_000, 2, seed=2)
    tracemalloc.start()
    scores = det.anomaly_score(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert scores.shape == (100_000,) and np.isfinite(scores).all()
    assert peak < 200 * 2**20, f"scoring 100k steps peaked at {peak / 2**20:.0f} MB"


def test_detect_and_fit_default_to_the_measured_best_detector():
    from anomalyforge.cli import build_parser

    assert build_parser().parse_args(["detect", "series.csv", "--out", "out"]).detector == "auto"
    assert build_parser().parse_args(["fit", "train.csv", "--out", "m.safetensors"]).detector == "auto"


def test_members_are_the_models_the_calibration_was_measured_on():
    """The calibration (p-values against held-out normal scores) describes the members that score: they are
    fitted on the training part without the stretch, not refitted on everything (which moved score scales:
    on MSL D-14 every step was flagged). refit=True is still available and fits on the whole series."""
    from anomalyforge.detectors.auto.selection import Candidate, fit_model_only, make_candidate

    X = make_series(1500, 2, seed=8)
    auto = make_detector("auto", **SMALL, random_state=0).fit(X)
    plan = holdout_plan(X, auto.holdout, auto.max_validation_steps, auto.max_window_features)
    probe = make_series(300, 2, seed=9)
    for member, label, window in zip(auto.members_, auto.member_labels_, auto.windows_, strict=True):
        twin = make_candidate(Candidate(label.split("@")[0], window), 2, auto.max_train_windows, 0)
        np.testing.assert_allclose(member._score(probe), fit_model_only(twin, plan.X_fit)._score(probe))
    refit = make_detector("auto", **SMALL, refit=True, random_state=0).fit(X)
    twin = make_candidate(Candidate(refit.member_labels_[0].split("@")[0], refit.windows_[0]), 2,
                          refit.max_train_windows, 0)  # fmt: skip
    np.testing.assert_allclose(refit.members_[0]._score(probe), fit_model_only(twin, X)._score(probe))


def test_prior_members_are_the_default_detectors_fitted_on_the_whole_series():
    """select="prior" (the default): knn, lof and pca at their own defaults, fitted on all of X; the threshold
    rests on each member's out-of-fold scores (blocks the scoring copy never saw), not on in-sample ones."""
    X = make_series(1200, 2, seed=4)
    auto = make_detector("auto").fit(X)
    assert auto.member_labels_ == ["knn@50", "lof@50", "pca@50"] and auto.selection_["select"] == "prior"
    assert "out-of-fold" in auto.threshold_source_
    probe = make_series(300, 2, seed=5)
    for member, name in zip(auto.members_, ("knn", "lof", "pca"), strict=True):
        np.testing.assert_allclose(member._score(probe), make_detector(name).fit(X)._score(probe))
    # the reference is out-of-fold: higher than the members' in-sample scores (a window is its own neighbour)
    assert auto.calibration_scores_.shape == (1200,)
    in_sample = auto._combine_members([m._score(X) for m in auto.members_])
    assert np.median(auto.calibration_scores_) > np.median(in_sample)


def test_prior_windows_shrink_for_a_short_series_and_bad_names_are_refused():
    auto = make_detector("auto", prior=("knn", "pca")).fit(make_series(120, 1, seed=2))
    assert auto.member_labels_ == ["knn@30", "pca@30"]
    assert np.isfinite(auto.anomaly_score(make_series(80, 1, seed=3))).all()
    with pytest.raises(ValueError, match="prior must be a non-empty subset"):
        make_detector("auto", prior=("knn", "genias")).fit(make_series(300, 1))
    with pytest.raises(ValueError, match="window_factors"):
        make_detector("auto", select="forged", window_factors=(0.0,)).fit(make_series(300, 1))
