"""The shared torch fit loop and its settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyforge.nn.training import TrainConfig, fit_loop, predict_batched


def test_config_casts_numbers_to_the_field_types():
    config = TrainConfig(epochs=np.int64(7), lr="0.01", patience=3, time_budget=5)
    assert config == TrainConfig(epochs=7, lr=0.01, patience=3, time_budget=5.0)
    assert type(config.epochs) is int and type(config.lr) is float and type(config.time_budget) is float
    assert TrainConfig(time_budget=None).time_budget is None
    assert not hasattr(TrainConfig, "from_params")  # settings are passed explicitly, never read by name


def _regression(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def test_fit_loop_learns_and_restores_the_best_weights():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)

    def loss_fn(idx):
        return torch.mean((model(x[idx]).squeeze(1) - y[idx]) ** 2)

    config = TrainConfig(epochs=60, batch_size=32, lr=0.05, patience=0)
    report = fit_loop(model, len(x), loss_fn, config, np.random.default_rng(0))
    assert report.epochs_run == 60 and report.stopped_by == "epochs"
    assert report.val_loss[report.best_epoch - 1] == min(report.val_loss)
    with torch.no_grad():  # the restored weights are the best epoch's: their validation loss is the minimum
        assert float(torch.mean((model(x).squeeze(1) - y) ** 2)) < 1e-2
    assert np.allclose(model.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=0.05)


def test_fit_loop_stops_on_patience_and_on_time_budget():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)

    def flat_loss(idx):  # never improves: patience must stop it
        return (model(x[idx]) * 0).sum() + 1.0

    report = fit_loop(model, len(x), flat_loss, TrainConfig(epochs=50, patience=3), np.random.default_rng(0))
    assert report.stopped_by == "patience" and report.epochs_run == 4

    def slow_loss(idx):
        import time

        time.sleep(0.01)
        return torch.mean((model(x[idx]).squeeze(1) - y[idx]) ** 2)

    config = TrainConfig(epochs=1000, batch_size=50, patience=0, time_budget=0.2)
    report = fit_loop(model, len(x), slow_loss, config, np.random.default_rng(0))
    assert report.stopped_by == "time budget" and 1 <= report.epochs_run < 1000


def test_fit_loop_refuses_no_items_and_predict_batched_matches_one_pass():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="0 training items"):
        fit_loop(model, 0, lambda idx: torch.zeros(()), TrainConfig(), np.random.default_rng(0))
    windows = np.random.default_rng(0).normal(size=(1000, 3))
    with torch.no_grad():
        whole = model(torch.as_tensor(windows, dtype=torch.float32)).numpy()
    assert np.allclose(predict_batched(model, windows, batch_size=64), whole, atol=1e-6)


def test_fit_loop_calls_on_epoch_start_before_each_epochs_batches():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    events: list[tuple[str, int | bool]] = []

    def loss_fn(idx):
        events.append(("batch", model.training))
        return torch.mean((model(x[idx]).squeeze(1) - y[idx]) ** 2)

    config = TrainConfig(epochs=3, batch_size=len(x), patience=0)
    fit_loop(
        model, len(x), loss_fn, config, np.random.default_rng(0), on_epoch_start=lambda e: events.append(("epoch", e))
    )
    # each epoch: the hook, one training batch, one validation batch (eval mode)
    assert events == [e for k in range(3) for e in (("epoch", k), ("batch", True), ("batch", False))]


def test_tail_split_holds_out_the_last_items_after_a_gap():
    """val_split="tail": validation = the last items; the gap before them trains on nothing."""
    seen: list[np.ndarray] = []
    model = torch.nn.Linear(1, 1)

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        seen.append(np.asarray(idx).copy())
        return model.weight.sum() * 0 + float(len(idx))

    cfg = TrainConfig(epochs=1, batch_size=1000, val_fraction=0.1, val_split="tail", val_gap=5, patience=0)
    fit_loop(model, 100, loss_fn, cfg, np.random.default_rng(0))
    train, val = seen
    assert sorted(train.tolist()) == list(range(85)) and val.tolist() == list(range(90, 100))
    seen.clear()  # a gap leaving under half the items for training: no validation at all
    fit_loop(model, 100, loss_fn, TrainConfig(epochs=1, batch_size=1000, val_split="tail", val_gap=60),
             np.random.default_rng(0))  # fmt: skip
    assert len(seen) == 1 and sorted(seen[0].tolist()) == list(range(100))
    with pytest.raises(ValueError, match="val_split"):
        TrainConfig(val_split="middle")


def test_fit_loop_keeps_the_last_weights_when_told_not_to_restore_the_best():
    """An objective constant in value (like the asynchronous KL loss) still trains; restore_best=False keeps
    the last epoch's weights instead of the first (never improved upon) epoch's."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)

    def loss_fn(idx):
        w = model.weight.sum()
        return w.detach() - w  # always 0 in value; the gradient -1 moves w up

    config = TrainConfig(epochs=3, batch_size=10, lr=0.1, patience=0, val_fraction=0.0, restore_best=False)
    report = fit_loop(model, 10, loss_fn, config, np.random.default_rng(0))
    assert report.best_epoch == 1 and report.epochs_run == 3
    assert float(model.weight) > 0.2  # three Adam steps of 0.1, none undone
