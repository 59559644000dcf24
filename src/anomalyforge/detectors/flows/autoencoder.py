"""The ``autoencoder`` baseline of ../shared/papers/normalizing_flow_anomaly_detection.txt (section 4.2).

A dense autoencoder over window vectors (``window`` steps x C channels, standardised with training
statistics, flattened): two hidden layers with ReLU and dropout, a bottleneck of 2, a mirrored decoder,
trained for 100 epochs with the mean squared error (the paper's settings; it does not state the widths or
the dropout rate, so ``hidden1=64``, ``hidden2=16`` and ``dropout=0.2`` are our choices). Training uses
``training.fit_loop``; its validation split only picks the best epoch's weights (``patience=0`` runs all
epochs, as the paper does).

The score of a time step is its reconstruction error: with ``how="point"`` (default) the squared error of
that step (mean over channels), averaged over every scored window that contains it; with a window-level
``how`` (``"max"``, ``"mean"``, ...) each window's mean squared error is mapped to its steps.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from anomalyforge.core.base import Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval
from anomalyforge.core.windows import WindowGather
from anomalyforge.detectors.flows.features import VectorModelDetector
from anomalyforge.nn.training import (
    fit_loop,
    resolve_device,
    seed_torch,
    torch_threads,
)

__all__ = ["DenseAutoencoder", "WindowAutoencoder"]


class DenseAutoencoder(nn.Module):
    """d -> hidden1 -> hidden2 -> bottleneck -> hidden2 -> hidden1 -> d, ReLU and dropout after hidden layers.

    Args:
        n_features: input dimension d.
        hidden1: width of the first (and last) hidden layer.
        hidden2: width of the second (and second-to-last) hidden layer.
        bottleneck: code dimension.
        dropout: dropout probability after each hidden layer.
    """

    def __init__(self, n_features: int, hidden1: int, hidden2: int, bottleneck: int, dropout: float) -> None:
        super().__init__()

        def block(n_in: int, n_out: int) -> list[nn.Module]:
            return [nn.Linear(n_in, n_out), nn.ReLU(), nn.Dropout(dropout)]

        self.encoder = nn.Sequential(
            *block(n_features, hidden1), *block(hidden1, hidden2), nn.Linear(hidden2, bottleneck)
        )
        self.decoder = nn.Sequential(
            *block(bottleneck, hidden2), *block(hidden2, hidden1), nn.Linear(hidden1, n_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct (b, d) vectors; returns (b, d)."""
        return self.decoder(self.encoder(x))


@DETECTORS.register(
    "autoencoder",
    test_params={"window": 6, "hidden1": 16, "hidden2": 8, "epochs": 15, "max_train_windows": 300},
)
class WindowAutoencoder(VectorModelDetector):
    """Dense autoencoder (bottleneck 2, dropout, MSE) reconstruction error of standardised window vectors.

    Args:
        window: steps per window.
        hidden1, hidden2: hidden layer widths.
        bottleneck: code dimension (the paper's 2).
        dropout: dropout probability.
        epochs, batch_size, lr, weight_decay, patience, val_fraction, time_budget: ``TrainConfig`` settings.
        train_stride: step between training windows.
        max_train_windows: cap on training windows (evenly spread).
        score_stride: step between scored windows (the last step is always covered).
        how: "point" (per-step error averaged over windows) or a window-level mapping of the window's error.
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule on the training scores.
        random_state: seed of initialisation, dropout and batching.
        device: "auto", "cpu" or "cuda".
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True, channel_scores=True)
    per_step_scores: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden1": [Interval(int, 1, None)],
        "hidden2": [Interval(int, 1, None)],
        "bottleneck": [Interval(int, 1, None)],
        "dropout": [Interval(float, 0.0, 1.0, "left")],
    }

    def __init__(
        self,
        window: int = 10,
        hidden1: int = 64,
        hidden2: int = 16,
        bottleneck: int = 2,
        dropout: float = 0.2,
        epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 0,
        val_fraction: float = 0.1,
        time_budget: float | None = None,
        train_stride: int = 1,
        max_train_windows: int = 10000,
        score_stride: int = 1,
        how: str = "point",
        score_batch_size: int = 4096,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.window = window
        self.hidden1 = hidden1
        self.hidden2 = hidden2
        self.bottleneck = bottleneck
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_fraction = val_fraction
        self.time_budget = time_budget
        self.train_stride = train_stride
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.threshold = threshold
        self.random_state = random_state
        self.device = device

    def _build_modules(self) -> None:
        self.model_ = DenseAutoencoder(self.n_features_, self.hidden1, self.hidden2, self.bottleneck, self.dropout)

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        vectors = windows.flat(np.float32)
        self.n_features_ = int(vectors.shape[1])
        rng = np.random.default_rng(self.random_state)
        with torch_threads():
            seed_torch(self.random_state)
            self._build_modules()
            dev = resolve_device(self.device)
            self.model_.to(dev)
            data = torch.from_numpy(vectors).to(dev)

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                x = data[torch.from_numpy(idx).to(dev)]
                return torch.mean((self.model_(x) - x) ** 2)

            self._record_training("model", fit_loop(self.model_, len(vectors), loss_fn, self._train_config(), rng))
            self.model_.cpu()

    @torch.no_grad()
    def _errors(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) windows -> (b, window, C) squared reconstruction error of every cell."""
        with torch_threads():
            dev = resolve_device(self.device)
            self.model_.to(dev).eval()
            x = torch.from_numpy(batch.astype(np.float32)).to(dev)
            flat = x.reshape(x.shape[0], -1)
            return ((self.model_(flat) - flat) ** 2).reshape(x.shape).double().cpu().numpy()

    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) windows -> (b, window) squared reconstruction error per step (mean over channels)."""
        return self._errors(batch).mean(axis=2)

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        return self._channel_steps(self._errors, X)
