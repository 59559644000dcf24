"""CARLA-specific checks: exact neighbour mining, axis handling, the losses on hand cases, the majority-class
rule, the kNN variant, a planted anomaly, the time budget, deterministic mode, the generator's settings and
persistence (the generic checks are in test_common.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from anomalyforge.core.base import BaseGenerator, _declared_constraints
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import DETECTORS, make_detector
from anomalyforge.core.windows import window_starts
from anomalyforge.detectors.carla import CARLA, CarlaKNN, CarlaNet, scan_loss, triplet_loss, window_stats
from anomalyforge.generators.build import build_negative_generator
from anomalyforge.nn.knn import feasible_exclusion, mine_neighbours

from .conftest import make_series

STAGE1 = dict(window=16, stride=2, width=4, embedding_dim=8, n_neighbors=3, epochs_stage1=3, batch_size=32)
TINY = {**STAGE1, "n_classes": 4, "epochs_stage2": 3}  # the published CARLA (two stages)


class LevelShift(BaseGenerator):
    """Throwaway generator: adds +-shift to one channel over a random segment."""

    def __init__(self, shift: float = 4.0) -> None:
        self.shift = shift

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, T, C = windows.shape
        for i in range(n):
            a = int(rng.integers(0, T - 2))
            b = a + int(rng.integers(2, T - a + 1))
            windows[i, a:b, int(rng.integers(C))] += self.shift * rng.choice([-1, 1])
        return windows


@pytest.fixture(scope="module")
def fitted():
    train = make_series(400, 3, seed=1)
    return CARLA(generator=LevelShift(), **TINY).fit(train), train


# ------------------------------------------------------------------------------------------ mining
def test_mining_returns_true_nearest_and_furthest_neighbours():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(70, 5))
    rows = np.array([0, 3, 17, 69])
    nearest, furthest = mine_neighbours(feats, 4, rows=rows, chunk=3)  # several chunks
    d = np.linalg.norm(feats[rows, None, :] - feats[None, :, :], axis=2)
    for i, r in enumerate(rows):
        order = [j for j in np.argsort(d[i]) if j != r]
        np.testing.assert_array_equal(nearest[i], order[:4])
        np.testing.assert_array_equal(furthest[i], order[::-1][:4])


def test_mining_excludes_self_even_with_duplicates_and_checks_k():
    feats = np.zeros((5, 2))
    nearest, furthest = mine_neighbours(feats, 4)
    for i in range(5):
        assert i not in nearest[i] and i not in furthest[i]
        assert sorted(nearest[i]) == sorted(set(range(5)) - {i})
    with pytest.raises(ValueError, match="n_neighbors"):
        mine_neighbours(feats, 5)


# -------------------------------------------------------------------------------------------- axes
def test_backbone_sees_channels_first_by_transpose_not_reshape():
    net = CarlaNet(in_channels=3, width=4, embedding_dim=8, n_classes=4).eval()
    seen = {}
    first_conv = net.backbone.blocks[0].body[0]
    first_conv.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    x = torch.randn(2, 16, 3)  # (B, T, C)
    net.embed(x)
    assert seen["x"].shape == (2, 3, 16)
    assert torch.equal(seen["x"], x.transpose(1, 2))
    assert not torch.equal(seen["x"], x.reshape(2, 3, 16))  # what a .view would have fed the convolutions


def test_channel_content_reaches_only_its_channel_weights():
    """Zeroing channel c's input weights removes exactly channel c's content from the features."""
    torch.manual_seed(0)
    net = CarlaNet(in_channels=3, width=4).eval()
    x = torch.zeros(1, 16, 3)
    x[0, :, 1] = torch.linspace(-2, 2, 16)  # content only in channel 1, along time
    base = net.features(torch.zeros_like(x))
    with torch.no_grad():
        net.backbone.blocks[0].body[0].weight[:, 1] = 0
        net.backbone.blocks[0].shortcut[0].weight[:, 1] = 0
    np.testing.assert_allclose(net.features(x).detach(), base.detach(), atol=1e-6)


# ----------------------------------------------------------------------------------- scores / rules
def test_majority_class_rule_and_window_scores(fitted):
    det, train = fitted
    assert det.normal_class_ == int(np.argmax(det.class_counts_))
    assert sum(det.class_counts_) == len(window_starts(len(train), det.window, det.stride))
    windows = np.stack([train[s : s + det.window] for s in window_starts(len(train), det.window, 1)])
    Z = torch.from_numpy(((windows - det.mean_) / det.std_).astype(np.float32))
    with torch.no_grad():
        p = torch.softmax(det.model_(Z), dim=1).numpy()
    scores, starts = det.window_scores(train, stride=1)
    np.testing.assert_allclose(scores, 1.0 - p[:, det.normal_class_], rtol=1e-5, atol=1e-6)
    assert len(starts) == len(windows)


def test_detector_separates_an_obvious_planted_anomaly():
    train = make_series(600, 3, seed=4)
    test = make_series(400, 3, seed=5)
    test[200:230, 0] += 5.0
    det = CarlaKNN(generator=LevelShift(), **{**STAGE1, "epochs_stage1": 8}).fit(train)
    scores = det.anomaly_score(test)
    inside = scores[200:230].mean()
    outside = np.r_[scores[:180], scores[250:]]
    assert inside > np.quantile(outside, 0.95), (inside, np.quantile(outside, 0.95))


def test_knn_score_is_the_distance_to_the_nearest_training_windows():
    train = make_series(400, 3, seed=1)
    det = CarlaKNN(generator=LevelShift(), reference_stride=3, **STAGE1).fit(train)
    ref_starts = window_starts(400, 16, 3)
    assert set(det.training_summary()["parts"]) == {"stage1"} and det.model_.classifier is None
    assert det.train_features_.shape[0] == len(ref_starts)
    scores, starts = det.window_scores(train, stride=3)
    np.testing.assert_array_equal(starts, ref_starts)
    # scoring the reference windows again finds each one itself at distance 0 among its k neighbours
    feats = det.train_features_.astype(np.float64)
    d = np.linalg.norm(feats[:, None] - feats[None], axis=2)
    np.testing.assert_allclose(scores, np.sort(d, axis=1)[:, : det.n_neighbors].mean(axis=1), rtol=1e-4, atol=1e-4)
    # training scores ignore references that share a step with the window (no self-match)
    d[np.abs(ref_starts[:, None] - ref_starts[None]) < 16] = np.inf
    loo = np.sort(d, axis=1)[:, : det.n_neighbors].mean(axis=1)
    assert det.train_scores_.min() >= loo.min() - 1e-4 and det.train_scores_.min() > 0


def test_window_stats_match_explicit_window_moments():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3)) * [1.0, 5.0, 0.1] + [0.0, 100.0, -3.0]
    starts = np.array([0, 7, 44])
    windows = np.stack([Z[s : s + 16] for s in starts])
    got = window_stats(windows, tail=4)
    want = np.stack([np.r_[Z[s : s + 16].mean(0), Z[s : s + 16].std(0), Z[s + 12 : s + 16].mean(0)] for s in starts])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert window_stats(windows, tail=0).shape == (3, 6)


@pytest.mark.parametrize("features", ["backbone", "stats", "both"])
def test_knn_feature_sets_and_block_weights(features):
    train = make_series(400, 3, seed=1)
    det = CarlaKNN(generator=LevelShift(), knn_features=features, stats_weight=3.0, **STAGE1).fit(train)
    n_backbone = {"backbone": 8, "stats": 0, "both": 8}[features]  # 2 * width backbone features
    n_stats = 0 if features == "backbone" else 9  # mean, std and tail mean of 3 channels
    assert det.train_features_.shape[1] == n_backbone + n_stats
    # every dimension is standardised, then divided by the root of its block's size (times stats_weight for the
    # statistics next to the backbone); a constant dimension (e.g. a dead ReLU feature) stays 0
    feats = det.train_features_.astype(np.float64)
    blocks = [(feats[:, :n_backbone], 1.0), (feats[:, n_backbone:], 3.0 if n_backbone else 1.0)]
    for block, weight in blocks:
        if block.shape[1]:
            ms = (block**2).mean(0) * block.shape[1] / weight**2
            assert np.all(np.isclose(ms, 1.0, rtol=1e-6) | (ms < 1e-9)) and ms.max() > 0.5, ms  # float32: ~1e-8
    spiky = make_series(300, 3, seed=2)
    spiky[150:154, 0] += 8.0
    scores = det.anomaly_score(spiky)
    assert scores[150:154].mean() > np.quantile(scores, 0.9)


def test_time_budget_is_respected(fake_clock):
    train = make_series(1200, 3, seed=6)
    det = CARLA(generator=LevelShift(), **{**TINY, "epochs_stage1": 10_000, "epochs_stage2": 10_000, "patience": 0},
                time_budget=3.0)  # fmt: skip
    fake_clock(0.1)  # every clock reading advances 0.1 s: the same run whatever the machine's load
    det.fit(train)
    assert det.fit_seconds_ <= 3.0 + 0.5, det.fit_seconds_  # a few readings past the deadline at most
    summary = det.training_summary()
    assert summary["stopped_by"] == {"stage1": "time budget", "stage2": "time budget"} and summary["budget_cut"]


@pytest.mark.parametrize("name", ["carla", "carla_knn"])
def test_save_load_round_trip(tmp_path, name):
    det = make_detector(name, **(TINY if name == "carla" else STAGE1)).fit(make_series(400, 3, seed=1))
    loaded = type(det).load(det.save(tmp_path / name))
    test = make_series(300, 3, seed=9)
    np.testing.assert_allclose(loaded.anomaly_score(test), det.anomaly_score(test), rtol=1e-6)
    assert loaded.training_summary() == det.training_summary()
    if name == "carla":
        assert loaded.normal_class_ == det.normal_class_ and loaded.class_counts_ == det.class_counts_


# -------------------------------------------------------------------------------------- registry
def test_registered_names_say_what_runs():
    for suffix, cls in (("", CARLA), ("_knn", CarlaKNN)):
        for prefix, gen in (("", "rules"), ("genias_", "genias"), ("flow_", "flow")):
            name = f"{prefix}carla{suffix}"
            assert DETECTORS.entry(name).cls is cls and make_detector(name).generator == gen
            described = DETECTORS.describe()[name]
            assert ("kNN" in described and "not the published" in described) == (cls is CarlaKNN), described
    assert make_detector("genias_carla", generator="rules").generator == "rules"
    assert "score" not in CARLA().get_params() and "score" not in CarlaKNN().get_params()
    assert "n_classes" not in CarlaKNN().get_params() and "knn_features" not in CARLA().get_params()


@pytest.mark.parametrize("cls", [CARLA, CarlaKNN])
def test_every_parameter_is_declared(cls):
    missing = set(cls().get_params(deep=False)) - set(_declared_constraints(cls))
    assert not missing, f"{cls.__name__} declares no constraint for {sorted(missing)}"


def test_bad_parameters_raise_clear_errors():
    train = make_series(200, 2, seed=1)
    with pytest.raises(ValueError, match="unknown generator"):
        CARLA(generator="no-such-thing", **TINY).fit(train)
    with pytest.raises(ValueError, match="parameter how='median' is not valid"):
        CARLA(generator=LevelShift(), how="median", **TINY).fit(train)
    with pytest.raises(ValueError, match="parameter knn_features='raw'"):
        CarlaKNN(generator=LevelShift(), knn_features="raw", **STAGE1).fit(train)
    with pytest.raises(ValueError, match="parameter window=4"):
        CARLA(generator=LevelShift(), **{**TINY, "window": 4}).fit(train)
    with pytest.raises(ValueError, match="too few"):
        CARLA(generator=LevelShift(), **{**TINY, "stride": 100}).fit(train)
    with pytest.raises(ValueError, match="max_reference_windows"):
        CarlaKNN(generator=LevelShift(), max_reference_windows=3, **STAGE1).fit(train)


def test_reference_windows_are_capped_on_a_long_training_series():
    train = make_series(600, 2, seed=3)
    det = CarlaKNN(generator=LevelShift(), max_reference_windows=50, **STAGE1).fit(train)
    # 585 windows at score_stride 2 would be 293 references; the cap grows the stride to ceil(585 / 50) = 12
    assert det._reference_stride(600) == 12
    assert det.train_features_.shape[0] == len(window_starts(600, 16, 12)) <= 51
    assert det.train_scores_.shape == (600,) and np.isfinite(det.train_scores_).all()
    # the stride never exceeds the window, so every step stays covered
    assert CarlaKNN(max_reference_windows=10, **STAGE1)._reference_stride(10_000) == 16
    assert CarlaKNN(max_reference_windows=None, **STAGE1)._reference_stride(10_000) == 2


def test_short_training_series_shrinks_the_exclusion_zone_with_a_warning():
    # 30 steps, window 16: every training window shares steps with every other, so no reference lies a
    # whole window away; the zone shrinks until each window keeps n_neighbors=3 references
    train, test = make_series(30, 2, seed=4), make_series(80, 2, seed=5)
    with pytest.warns(UserWarning, match="too short"):
        det = CarlaKNN(generator=LevelShift(), **STAGE1).fit(train)
    assert 1 <= det.knn_exclusion_ < 16
    starts = window_starts(30, 16, det._reference_stride(30))
    assert feasible_exclusion(starts, 3, 16) == det.knn_exclusion_ and feasible_exclusion(starts, 3, 2) == 2
    assert np.isfinite(det.train_scores_).all() and np.isfinite(det.anomaly_score(test)).all()
    # one zone step wider leaves some window with fewer than 3 references
    d = np.abs(starts[:, None] - starts[None, :])
    assert ((d >= det.knn_exclusion_).sum(1) >= 3).all() and ((d >= det.knn_exclusion_ + 1).sum(1) < 3).any()
    # a long enough series keeps the whole-window zone, silently
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*too short")
        assert CarlaKNN(generator=LevelShift(), **STAGE1).fit(make_series(200, 2, seed=4)).knn_exclusion_ == 16
    with pytest.raises(ValueError, match="fewer than k=3 neighbours"):
        feasible_exclusion(np.arange(3), 3, 16)


# ------------------------------------------------------------------------------- generator / budget
def test_generator_gets_window_seed_and_budget_share_unless_given():
    budget = Budget(50.0).share(0.4)
    gen = build_negative_generator("genias", budget, window=32, random_state=5)
    assert (gen.window, gen.random_state) == (32, 5) and 19.9 < gen.time_budget <= 20.0
    gen = build_negative_generator("genias", budget, window=32, random_state=5, params={"time_budget": 7.0, "tau": 3.0})
    assert (gen.time_budget, gen.tau, gen.window) == (7.0, 3.0, 32)
    # an instance keeps its own seed and the smaller budget; its window follows the detector's
    mine = make_generator_instance(random_state=9, time_budget=5.0, window=64)
    gen = build_negative_generator(mine, budget, window=32, random_state=5)
    assert (gen.window, gen.random_state, gen.time_budget) == (32, 9, 5.0) and mine.window == 64
    with pytest.raises(TypeError, match="registry name or a BaseGenerator"):
        build_negative_generator(3.5, budget)


def test_deterministic_mode_reaches_the_generator():
    """time_budget=None: the generator gets no wall-time budget of its own (GenIAS defaults to 120 s) and the
    detector's seed, even when it is an instance with neither."""
    gen = build_negative_generator("genias", Budget(None), window=32, random_state=5)
    assert gen.time_budget is None and gen.random_state == 5
    gen = build_negative_generator(make_generator_instance(), Budget(None), window=32, random_state=5)
    assert gen.time_budget is None and gen.random_state == 5


def make_generator_instance(**params):
    from anomalyforge.core.registry import make_generator

    return make_generator("genias", **params)


def test_genias_carla_records_every_trained_part_and_repeats_exactly_without_budget():
    params = {**TINY, "time_budget": None, "generator_params": {"epochs": 2, "hidden_channels": 4,
              "max_train_windows": 32, "latent_channels": 2}}  # fmt: skip
    train = make_series(300, 2, seed=3)
    a = make_detector("genias_carla", **params).fit(train)
    b = make_detector("genias_carla", **params).fit(train)
    summary = a.training_summary()
    assert set(summary["parts"]) == {"generator", "stage1", "stage2"} and not summary["budget_cut"]
    assert summary["epochs"]["generator"] == 2
    np.testing.assert_array_equal(a.anomaly_score(train), b.anomaly_score(train))


def test_max_train_windows_subsamples_evenly_and_keeps_the_last_window():
    train = make_series(400, 3, seed=1)
    det = CARLA(generator=LevelShift(), max_train_windows=50, **TINY).fit(train)
    assert sum(det.class_counts_) == 50
    assert det.train_scores_.shape == (400,) and np.isfinite(det.train_scores_).all()


# ------------------------------------------------------------------------------------------ losses
def test_triplet_loss_hand_case():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # squared distances 0 and 1
    negative = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # squared distances 2 and 0
    # max(0, 0 - 2 + 0.5) = 0 and max(0, 1 - 0 + 0.5) = 1.5 -> mean 0.75
    assert float(triplet_loss(anchor, positive, negative, margin=0.5)) == pytest.approx(0.75)
    assert float(triplet_loss(anchor, positive, negative, margin=0.0)) == pytest.approx(0.5)


def test_scan_loss_hand_case():
    p_a = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    p_n = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    p_f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # consistency: -(log 0.5 + log 0.5) / 2 = log 2; batch mean p = (0.75, 0.25), entropy H
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert float(scan_loss(p_a, p_n, entropy_weight=2.0)) == pytest.approx(np.log(2) - 2 * h, rel=1e-6)
    # furthest term: <p_a, p_f> = 0.5 and 0 -> -(log 0.5 + log 1) / 2 = log(2) / 2
    got = float(scan_loss(p_a, p_n, p_f, entropy_weight=0.0, furthest_weight=3.0))
    assert got == pytest.approx(np.log(2) + 3 * np.log(2) / 2, rel=1e-6)
    # a zero inner product is clamped, not -inf
    assert np.isfinite(float(scan_loss(p_f, torch.flip(p_f, [1]), entropy_weight=0.0)))
    with pytest.raises(ValueError, match="furthest"):
        scan_loss(p_a, p_n, None, furthest_weight=1.0)


def test_carla_takes_a_mixture_of_generators():
    x = make_series(400, 2, seed=5)
    params = {**DETECTORS.entry("carla").test_params, "time_budget": None}
    det = make_detector("carla", **{**params, "generator": "global+trend"}).fit(x)
    assert det.generation_report_["generator"] == "global+trend"
    assert np.isfinite(det.anomaly_score(x)).all()
    with pytest.raises(ValueError, match="distinct generator names joined by"):
        make_detector("carla", **{**params, "generator": "global+global"}).fit(x)
