"""The wrapper both two-view contrastive detectors share (``dconad``, ``transde``): windows in, a network that
gives two views of every step, trained with the asynchronous stop-gradient KL loss, scored per step by the
discrepancy of the views.

A subclass writes only its network: ``_build_modules`` (sets ``model_`` from the parameters and
``n_series_channels_``) and, when it has structural constraints beyond the declared ones, ``_check_structure``.
The network maps (B, L, C) windows to a list of ``(series, prior)`` pairs of per-step views, each (B, L, ...)
(one pair for DConAD; one per patch size, layer and head for TransDe), and names the divergence of two views
in its ``divergence`` attribute; the training loss is the mean over pairs of ``asynchronous_kl_loss``, the
score of a step the sum over pairs of ``view_discrepancy``.

Training follows both papers' code: Adam, a learning rate halved after every epoch (``lr_decay``), a few
epochs, the last epoch's weights kept. The asynchronous loss is 0 in *value* at every step (its two terms
are the same symmetric divergence; only their gradients differ), so no validation loss can tell epochs
apart: there is no early stopping (the public code's, which in addition validates on the test windows,
ends up keeping the last epoch too). ``time_budget`` bounds the fit loop (None: nothing stops on wall
time, so a seed gives identical scores).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, Tags
from anomalyforge.core.budget import Budget
from anomalyforge.core.validation import Interval, Options, training_constraints
from anomalyforge.core.windows import HOWS, WindowDetector, WindowGather, WindowSpec
from anomalyforge.nn.contrastive import asynchronous_kl_loss, view_discrepancy
from anomalyforge.nn.training import TorchModelScoring, TrainConfig, fit_loop, resolve_device, seed_torch, torch_threads

__all__ = ["TwoViewWindowDetector"]

_POSITIVE = [Interval(int, 1, None)]


class TwoViewWindowDetector(TorchModelScoring, WindowDetector):
    """Base of the two-view contrastive detectors: shared window, training and scoring parameters.

    Owns ``window``, ``d_model``, ``n_heads``, ``n_layers``, ``dropout``, ``epochs``, ``batch_size``, ``lr``,
    ``lr_decay``, ``time_budget``, ``train_stride``, ``max_train_windows``,
    ``score_stride``, ``how``, ``score_batch_size``, ``random_state`` and ``device``.
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True)
    per_step_scores: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 3, None)],
        "d_model": _POSITIVE,
        "n_heads": _POSITIVE,
        "n_layers": _POSITIVE,
        "dropout": [Interval(float, 0.0, 1.0, "left")],
        **training_constraints("epochs", "batch_size", "lr", "time_budget"),
        "lr_decay": [Interval(float, 0.0, 1.0, "right")],
        "train_stride": _POSITIVE,
        "max_train_windows": [None, Interval(int, 2, None)],
        "score_stride": _POSITIVE,
        "how": [Options(HOWS)],
        "score_batch_size": _POSITIVE,
        "random_state": RANDOM_STATE,
        "device": [str],
    }
    window: int
    d_model: int
    n_heads: int
    n_layers: int
    dropout: float
    epochs: int
    batch_size: int
    lr: float
    lr_decay: float
    time_budget: float | None
    train_stride: int
    max_train_windows: int | None
    score_stride: int
    how: str
    score_batch_size: int
    random_state: int | None
    device: str
    model_: torch.nn.Module

    # ------------------------------------------------------------------------------------- structure
    def _check_structure(self) -> None:
        """Raise ``ValueError`` for parameter combinations the network cannot take."""
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")

    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            train_stride=self.train_stride,
            max_train_windows=self.max_train_windows,
            batch_size=self.score_batch_size,
        )

    def _train_config(self, seconds: float | None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=0,
            val_fraction=0.0,
            time_budget=seconds,
            restore_best=False,
        )

    # ------------------------------------------------------------------------------------------ fit
    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        self._check_structure()
        budget = Budget(self.time_budget)
        self.n_series_channels_ = int(Z.shape[1])
        rng = np.random.default_rng(self.random_state)
        with torch_threads():
            seed_torch(self.random_state)
            self._build_modules()
            model, device = self.model_, resolve_device(self.device)
            model.to(device)
            data = torch.from_numpy(windows.materialise(np.float32)).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)

            def halve_lr(epoch: int) -> None:  # the papers' schedule: lr * lr_decay ** epoch
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * self.lr_decay**epoch

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                pairs = model(data[torch.from_numpy(idx).to(device)])
                return sum(asynchronous_kl_loss(s, p, model.divergence) for s, p in pairs) / len(pairs)

            config = self._train_config(budget.seconds_for_fit_loop())
            report = fit_loop(model, len(data), loss_fn, config, rng, optimizer=optimizer, on_epoch_start=halve_lr)
            model.cpu()
        self._record_training("model", report)

    # ---------------------------------------------------------------------------------------- score
    @torch.no_grad()
    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) standardised windows -> (b, window) view discrepancy per step (summed over pairs)."""
        device = resolve_device(self.device)
        model = self.model_
        pairs = model(torch.from_numpy(batch.astype(np.float32)).to(device))
        return sum(view_discrepancy(s, p, model.divergence) for s, p in pairs).double().cpu().numpy()
