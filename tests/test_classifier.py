"""What is specific to the forged-window classifier (``rules_classifier``, ``genias_classifier``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyforge.core.base import BaseGenerator
from anomalyforge.core.registry import DETECTORS, make_detector
from anomalyforge.detectors.classifier import ForgedWindowClassifier, WindowClassifierNet, bce_loss

from .conftest import make_series

TINY = {**DETECTORS.entry("rules_classifier").test_params, "time_budget": None}


def test_bce_loss_on_tiny_tensors():
    logits = torch.tensor([0.0, 2.0, -3.0])
    labels = torch.tensor([1.0, 1.0, 0.0])
    expected = np.mean([np.log(2.0), np.log1p(np.exp(-2.0)), np.log1p(np.exp(-3.0))])
    assert float(bce_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)
    # stable for saturated logits: a confident right answer costs ~0, a confident wrong one ~|z|
    assert float(bce_loss(torch.tensor([100.0]), torch.tensor([1.0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(bce_loss(torch.tensor([100.0]), torch.tensor([0.0]))) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="one shape"):
        bce_loss(torch.zeros(3), torch.zeros(2))


def test_network_gives_one_logit_per_window():
    net = WindowClassifierNet(in_channels=3, width=2)
    assert net(torch.randn(5, 16, 3)).shape == (5,)


def test_forgeries_are_fresh_each_epoch_and_seeded():
    x = make_series(300, 2, seed=1)
    first = ForgedWindowClassifier(**TINY, patience=0).fit(x)
    second = ForgedWindowClassifier(**TINY, patience=0).fit(x)
    digests = [e["digest"] for e in first.forgery_log_]
    assert len(digests) == TINY["epochs"] and len(set(digests)) == len(digests)
    assert digests == [e["digest"] for e in second.forgery_log_]
    other = ForgedWindowClassifier(**{**TINY, "random_state": 1}, patience=0).fit(x)
    assert other.forgery_log_[0]["digest"] != digests[0]


def test_planted_anomaly_scores_high():
    x = make_series(600, 1, seed=3)
    det = ForgedWindowClassifier(**{**TINY, "epochs": 6}).fit(x)
    test = make_series(300, 1, seed=4)
    test[150:154] += 6.0
    scores = det.anomaly_score(test)
    assert scores[145:160].max() >= np.quantile(scores, 0.95)


def test_probability_score_is_the_sigmoid_of_the_logit():
    x = make_series(300, 1, seed=1)
    det = ForgedWindowClassifier(**TINY).fit(x)
    logit = det.anomaly_score(x)
    det.set_params(score="probability")
    prob = det.anomaly_score(x)
    np.testing.assert_allclose(prob, 1.0 / (1.0 + np.exp(-logit)), rtol=1e-12)
    assert ((prob >= 0) & (prob <= 1)).all()


def test_save_load_round_trip(tmp_path):
    x = make_series(300, 2, seed=1)
    det = make_detector("genias_classifier", **{**DETECTORS.entry("genias_classifier").test_params}).fit(x)
    loaded = ForgedWindowClassifier.load(det.save(tmp_path / "clf"))
    assert loaded.registry_name == "genias_classifier"
    np.testing.assert_allclose(loaded.anomaly_score(x), det.anomaly_score(x), rtol=1e-6, atol=1e-8)
    assert loaded.threshold_ == det.threshold_


@pytest.mark.parametrize(
    ("param", "value"),
    [("window", 4), ("epochs", 0), ("score", "rank"), ("how", "point"), ("generator_budget", 1.0),
     ("val_fraction", 1.0), ("generator", 3)],
)  # fmt: skip
def test_parameter_errors(param, value):
    with pytest.raises(ValueError, match=param):
        ForgedWindowClassifier(**{**TINY, param: value}).fit(make_series(200, 1))


def test_unknown_generator_lists_the_registered_ones():
    with pytest.raises(ValueError, match="registered generators"):
        ForgedWindowClassifier(**{**TINY, "generator": "nope"}).fit(make_series(200, 1))


def test_time_budget_stops_training_and_is_recorded(fake_clock):
    fake_clock(1.0)  # every clock reading advances 1 s: a 5 s budget runs out within the first epochs
    det = ForgedWindowClassifier(**{**TINY, "epochs": 50, "patience": 0, "time_budget": 5.0}).fit(make_series(300, 1))
    summary = det.training_summary()
    assert summary["stopped_by"]["model"] == "time budget" and summary["budget_cut"]
    assert summary["epochs"]["model"] < 50 and len(det.forgery_log_) == summary["epochs"]["model"]


class _Shift(BaseGenerator):
    """Adds ``offset`` to every cell: which member forged a window is readable from the forgery."""

    def __init__(self, offset: float = 1.0) -> None:
        self.offset = offset

    def _generate(self, windows, rng):
        return windows + self.offset


def test_a_mixture_forges_each_window_with_one_member_drawn_uniformly():
    x = make_series(400, 2, seed=2)
    det = ForgedWindowClassifier(**TINY).fit(x)
    starts = np.arange(0, 400 - TINY["window"], 1)
    forged = det._forge([_Shift(10.0), _Shift(20.0)], x, starts, np.random.default_rng(0))
    source = det._standardise(x)
    shift = np.stack([forged[i] - source[s : s + TINY["window"]] for i, s in enumerate(starts)])
    per_window = shift.mean(axis=(1, 2)) * det.std_.mean()  # standardised shift back in data units (about)
    first = np.isclose(shift, (10.0 / det.std_)[None, None, :], atol=1e-4).all(axis=(1, 2))
    second = np.isclose(shift, (20.0 / det.std_)[None, None, :], atol=1e-4).all(axis=(1, 2))
    assert (first ^ second).all(), per_window[~(first ^ second)][:5]  # every window from exactly one member
    assert 0.4 < first.mean() < 0.6  # drawn uniformly


def test_genias_rules_mixture_trains_genias_and_checks_its_spelling():
    x = make_series(300, 2, seed=1)
    params = DETECTORS.entry("genias_rules_classifier").test_params
    det = make_detector("genias_rules_classifier", **{**params, "time_budget": None}).fit(x)
    assert det.registry_name == "genias_rules_classifier"
    assert set(det.training_summary()["parts"]) == {"generator:genias", "model"}
    for bad in ("genias+", "rules+rules"):
        with pytest.raises(ValueError, match="distinct generator names joined by"):
            make_detector("genias_rules_classifier", **{**params, "generator": bad}).fit(x)
    with pytest.raises(ValueError, match="unknown generator 'nope'"):
        make_detector("genias_rules_classifier", **{**params, "generator": "rules+nope"}).fit(x)
    with pytest.raises(ValueError, match="maps member names"):
        make_detector("genias_rules_classifier", **{**params, "generator_params": {"epochs": 3}}).fit(x)
