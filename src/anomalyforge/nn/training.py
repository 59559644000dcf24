"""Torch helpers shared by every neural model: threads, seeding, device, batched inference, a fit loop.

The fit loop splits the training items into a training and a validation part, stops early when the
validation loss stops improving or a wall-time budget runs out, restores the best weights and reports
what it did (epochs, seconds, why it stopped), so that training on a 2-core CPU stays practical and
honest.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from anomalyforge.core.validation import batched  # torch-free, re-exported for the neural models

__all__ = [
    "TorchModelScoring",
    "TrainConfig",
    "TrainReport",
    "default_threads",
    "torch_threads",
    "seed_torch",
    "resolve_device",
    "fit_loop",
    "batched",
    "predict_batched",
]


def default_threads() -> int:
    """Intra-op threads for torch: ``ANOMALYFORGE_NUM_THREADS`` if set, else 1.

    Small models on few cores run faster with one thread (measured several times faster than two on a
    busy 2-core machine), and parallel benchmark workers each want one.
    """
    value = os.environ.get("ANOMALYFORGE_NUM_THREADS")
    return max(1, int(value)) if value else 1


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads (default ``default_threads()``), then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seed_torch(seed: int | None) -> torch.Generator:
    """Seed torch's global RNG (for layer initialisation) and return a generator for data sampling."""
    seed = 0 if seed is None else int(seed)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def resolve_device(device: str | None = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class TrainConfig:
    """Settings of ``fit_loop``.

    Attributes:
        epochs: most epochs to run.
        batch_size: items per optimiser step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: epochs without validation improvement before stopping (0 disables early stopping).
        val_fraction: share of the items held out for validation (0 disables validation).
        time_budget: wall seconds after which training stops at the end of the current epoch (None: none).
        min_delta: relative improvement that counts as better.
        val_split: ``"random"`` (a random share of the items) or ``"tail"``: the last items in index order,
            for items that are windows in time order. Overlapping windows make a random split leak (a
            validation window shares most of its steps with training windows, so the validation loss
            follows the training loss and early stopping never sees overfitting); the tail split holds out
            the end of the series instead.
        val_gap: with ``"tail"``, this many items before the validation part are used for neither (set it
            to the number of windows overlapping one window, ``ceil(window / stride)``, so no training
            window shares a step with a validation window).
        restore_best: restore the best epoch's weights at the end (False: keep the last epoch's, for
            objectives whose value does not measure progress).
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    val_fraction: float = 0.1
    time_budget: float | None = None
    min_delta: float = 1e-4
    val_split: str = "random"
    val_gap: int = 0
    restore_best: bool = True

    def __post_init__(self) -> None:
        """Cast numbers to the field's type (int or float): numpy scalars and numeric strings work."""
        for f in fields(self):
            value, default = getattr(self, f.name), f.default
            if value is not None and isinstance(default, int | float) and not isinstance(default, bool):
                setattr(self, f.name, type(default)(value))
        if self.time_budget is not None:
            self.time_budget = float(self.time_budget)
        if self.val_split not in ("random", "tail"):
            raise ValueError(f"val_split must be 'random' or 'tail', got {self.val_split!r}")


@dataclass
class TrainReport:
    """What a fit loop did."""

    epochs_run: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_by: str = "epochs"
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 3),
            "stopped_by": self.stopped_by,
            "final_train_loss": self.train_loss[-1] if self.train_loss else None,
            "best_val_loss": min(self.val_loss) if self.val_loss else None,
        }


def _split(n_items: int, config: TrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(validation, training) item indices as ``config.val_split`` says; no validation below 10 items, or
    when the tail split's gap would leave fewer than half the items for training."""
    n_val = int(round(n_items * config.val_fraction)) if n_items >= 10 else 0
    if config.val_split == "tail":
        gap = int(config.val_gap)
        if n_val == 0 or n_items - n_val - gap < n_items // 2:
            return np.arange(0), np.arange(n_items)
        return np.arange(n_items - n_val, n_items), np.arange(n_items - n_val - gap)
    perm = rng.permutation(n_items)
    return perm[:n_val], perm[n_val:]


def fit_loop(
    model: torch.nn.Module,
    n_items: int,
    loss_fn: Callable[[np.ndarray], torch.Tensor],
    config: TrainConfig,
    rng: np.random.Generator,
    parameters: list[torch.nn.Parameter] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
) -> TrainReport:
    """Train ``model`` with Adam on items ``0..n_items-1``; ``loss_fn(batch_indices)`` returns a scalar loss.

    The loss function builds its own batch from the indices (windows, triplets, generated negatives), so
    the same loop serves every model. The best weights by validation loss (or by training loss without
    validation) are restored at the end unless ``config.restore_best`` is False. ``on_epoch_start(epoch)``
    (0-based), when given, runs before each epoch's training batches (e.g. to draw fresh generated items for
    that epoch).
    """
    if n_items < 1:
        raise ValueError("nothing to train on: 0 training items")
    start = time.perf_counter()
    val_idx, train_idx = _split(n_items, config, rng)
    n_val = len(val_idx)
    params = parameters if parameters is not None else [p for p in model.parameters() if p.requires_grad]
    opt = optimizer or torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    report = TrainReport()
    best, best_state, bad_epochs = np.inf, None, 0
    for epoch in range(config.epochs):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        order = rng.permutation(train_idx)
        total, count = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            loss = loss_fn(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        report.train_loss.append(total / max(count, 1))
        if n_val:
            model.eval()
            with torch.no_grad():
                vals = [
                    float(loss_fn(val_idx[i : i + config.batch_size])) * len(val_idx[i : i + config.batch_size])
                    for i in range(0, n_val, config.batch_size)
                ]
            report.val_loss.append(sum(vals) / n_val)
        current = report.val_loss[-1] if n_val else report.train_loss[-1]
        report.epochs_run = epoch + 1
        improved = not np.isfinite(best) or current < best - config.min_delta * abs(best)
        if improved and np.isfinite(current):
            best, bad_epochs, report.best_epoch = current, 0, epoch + 1
            if config.restore_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if not np.isfinite(current):
            report.stopped_by = "non-finite loss"
            break
        if config.patience and bad_epochs >= config.patience:
            report.stopped_by = "patience"
            break
        if config.time_budget is not None and time.perf_counter() - start >= config.time_budget:
            report.stopped_by = "time budget"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    report.seconds = time.perf_counter() - start
    return report


@torch.no_grad()
def predict_batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    windows: np.ndarray,
    batch_size: int = 512,
    device: torch.device | None = None,
) -> np.ndarray:
    """Apply ``fn`` to (n, ...) windows in batches (float32 tensors) and concatenate the numpy results.

    ``windows`` may be a zero-copy sliding-window view: only one batch is copied at a time, so scoring
    a 100k-step series never holds all windows in memory.
    """
    out = []
    for sl in batched(len(windows), batch_size):
        # np.array copies the batch (a writable float32 array), so only one batch of a view is ever in memory
        batch = torch.from_numpy(np.array(windows[sl], dtype=np.float32)).to(device or "cpu")
        out.append(fn(batch).detach().cpu().numpy())
    return np.concatenate(out, axis=0)


class TorchModelScoring:
    """Mixin for a windowed detector whose fitted torch module is ``model_`` and whose ``device`` parameter
    says where it runs: scoring happens in eval mode, on that device, with the package's torch threads."""

    model_: torch.nn.Module
    device: str

    @contextlib.contextmanager
    def _scoring(self) -> Iterator[torch.device]:
        device = resolve_device(self.device)
        with torch_threads():
            self.model_.to(device).eval()
            yield device
