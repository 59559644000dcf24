"""DConAD (Zhang et al., 2025): differencing-based contrastive representation learning, as a window detector.

The network (``model.DConADNet``) sees each window and its first difference and gives two distributions per
step (``series``: bilinear interaction of the two views' hidden states; ``prior``: a feed-forward map of
them concatenated). Training aligns them with the positive-pair-only asynchronous KL objective under
stop-gradient (``nn.contrastive.asynchronous_kl_loss``); the score of a step is the symmetric KL
discrepancy of its two distributions, the paper's anomaly criterion, averaged over the scored windows that
contain the step (``how="point"``).

Defaults: the public code's window 60 (its PSM setting), one spatio-temporal layer per view, Adam at 1e-4
halved every epoch, 3 epochs and batch 128; ``d_model`` is 32 instead of 256 so that a 2-core CPU trains in
the default 60 s budget (at most 2,000 training windows, evenly spread, for the same reason: the fit loop
checks its budget only after an epoch). What differs from the public code, and why: both views are normalised to
distributions (the code feeds unnormalised sigmoid outputs to the KL), nothing is validated on test windows
(the code's early stopping reads the test set), and the score is the KL discrepancy itself rather than the code's
softmax over each window of the negated discrepancy (which ranks the steps whose views agree *highest*, the
opposite of the paper's criterion).
"""

from __future__ import annotations

from typing import Any

from anomalyforge.core.registry import DETECTORS
from anomalyforge.detectors.dconad.model import DConADNet
from anomalyforge.detectors.twoview import TwoViewWindowDetector

__all__ = ["DConAD"]


@DETECTORS.register(
    "dconad",
    test_params={"window": 12, "d_model": 8, "n_heads": 2, "epochs": 2, "max_train_windows": 128, "batch_size": 32},
)
class DConAD(TwoViewWindowDetector):
    """DConAD: raw + differenced window views, spatio-temporal transformer, positive-pair KL contrast.

    Args:
        window: steps per window L (the differenced view has L - 1).
        d_model: hidden size and support of each step's two distributions.
        n_heads: heads of the temporal attention (divides ``d_model``).
        n_layers: spatio-temporal layers per view.
        dropout: dropout inside the transformer layers (the public code's 0.2).
        epochs, batch_size, lr: fit-loop settings (``nn.training.fit_loop``; all epochs run, last weights kept).
        lr_decay: the learning rate is multiplied by this after every epoch (the paper's 0.5).
        time_budget: wall seconds for the fit loop; None: no limit (deterministic mode).
        train_stride: step between training windows; max_train_windows: most windows used (evenly spread).
        score_stride: step between scored windows (the last step is always covered).
        how: window -> step mapping; ``"point"`` averages each step's discrepancy over its windows.
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule on the training scores.
        random_state: seed of initialisation, dropout and batching.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(
        self,
        window: int = 60,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 1,
        dropout: float = 0.2,
        epochs: int = 3,
        batch_size: int = 128,
        lr: float = 1e-4,
        lr_decay: float = 0.5,
        time_budget: float | None = 60.0,
        train_stride: int = 1,
        max_train_windows: int | None = 2000,
        score_stride: int = 5,
        how: str = "point",
        score_batch_size: int = 256,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.window = window
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_decay = lr_decay
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
        self.model_ = DConADNet(self.n_series_channels_, self.window, self.d_model, self.n_heads, self.n_layers,
                                self.dropout)  # fmt: skip
        self.model_.eval()
