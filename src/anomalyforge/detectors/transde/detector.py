"""TransDe (Zhang and Luo, 2025): decomposition-based multi-scale patch transformer, as a window detector.

Each window is split into trend and cyclical parts (``model.TransDeNet``: Hodrick-Prescott filter by
default, the paper's; a moving average on request); per part and per patch size, patch-wise and in-patch
attention maps give two distributions per step, aligned by the asynchronous stop-gradient KL loss
(``nn.contrastive.asynchronous_kl_loss``). The score of a step is the symmetric KL discrepancy of its two
views summed over patch sizes and layers, averaged over the scored windows that contain the step
(``how="point"``).

Defaults: the public code's window 105 with patch sizes 3, 5 and 7 and the filter's lambda 6400, one head,
Adam at 1e-4 halved every epoch, 3 epochs and batch 128; ``d_model`` 32 and one layer keep a 2-core CPU
within the default 60 s budget (at most 2,000 training windows, evenly spread, for the same reason: the fit loop
checks its budget only after an epoch). Differences from the public code: see ``model`` (the in-patch tokens, both
views normalised); nothing is validated on test windows, and the score is the discrepancy itself rather
than the code's softmax over each window of the negated discrepancy (which ranks agreeing views highest).
"""

from __future__ import annotations

from typing import Any, ClassVar

from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval, Options
from anomalyforge.detectors.transde.model import TransDeNet, hp_smoother, moving_average_smoother
from anomalyforge.detectors.twoview import TwoViewWindowDetector

__all__ = ["TransDe"]


@DETECTORS.register(
    "transde",
    test_params={"window": 16, "patch_sizes": (2, 4), "d_model": 8, "epochs": 2, "max_train_windows": 128,
                 "batch_size": 32},
)  # fmt: skip
class TransDe(TwoViewWindowDetector):
    """TransDe: HP-filter trend/cyclical parts, multi-scale patch-wise vs in-patch attention views, KL contrast.

    Args:
        window: steps per window L (a multiple of every patch size).
        patch_sizes: patch lengths, each >= 2 and at most L / 2.
        decomposition: ``"hp"`` (Hodrick-Prescott filter, the paper's) or ``"moving_average"``.
        hp_lambda: smoothing weight of the HP filter.
        moving_average_kernel: steps of the centred moving average (``decomposition="moving_average"``).
        d_model: token embedding size.
        n_heads: attention heads (divide ``d_model``).
        n_layers: parallel attention layers.
        dropout: dropout after the token embeddings.
        epochs, batch_size, lr: fit-loop settings (``nn.training.fit_loop``; all epochs run, last weights kept).
        lr_decay: the learning rate is multiplied by this after every epoch (the paper's 0.5).
        time_budget: wall seconds for the fit loop; None: no limit (deterministic mode).
        train_stride: step between training windows; max_train_windows: most windows used (evenly spread).
        score_stride: step between scored windows (the last step is always covered).
        how: window -> step mapping; ``"point"`` averages each step's discrepancy over its windows.
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule on the training scores.
        random_state: seed of initialisation and batching.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 4, None)],
        "patch_sizes": [tuple, list],
        "decomposition": [Options(("hp", "moving_average"))],
        "hp_lambda": [Interval(float, 0.0, None)],
        "moving_average_kernel": [Interval(int, 1, None)],
    }

    def __init__(
        self,
        window: int = 105,
        patch_sizes: tuple[int, ...] = (3, 5, 7),
        decomposition: str = "hp",
        hp_lambda: float = 6400.0,
        moving_average_kernel: int = 25,
        d_model: int = 32,
        n_heads: int = 1,
        n_layers: int = 1,
        dropout: float = 0.0,
        epochs: int = 3,
        batch_size: int = 128,
        lr: float = 1e-4,
        lr_decay: float = 0.5,
        time_budget: float | None = 60.0,
        train_stride: int = 1,
        max_train_windows: int | None = 2000,
        score_stride: int = 5,
        how: str = "point",
        score_batch_size: int = 128,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.window = window
        self.patch_sizes = patch_sizes
        self.decomposition = decomposition
        self.hp_lambda = hp_lambda
        self.moving_average_kernel = moving_average_kernel
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

    def _check_structure(self) -> None:
        super()._check_structure()
        sizes = list(self.patch_sizes)
        if not sizes or any(not isinstance(p, int) or isinstance(p, bool) for p in sizes):
            raise ValueError(f"patch_sizes must be a non-empty list of integers, got {self.patch_sizes!r}")
        bad = [p for p in sizes if p < 2 or self.window % p or self.window // p < 2]
        if bad:
            raise ValueError(
                f"patch sizes {bad} do not fit window={self.window}: each must be >= 2, divide the window and "
                f"leave at least 2 patches; e.g. window=105 with patch_sizes=(3, 5, 7)"
            )

    def _build_modules(self) -> None:
        if self.decomposition == "hp":
            smoother = hp_smoother(self.window, float(self.hp_lambda))
        else:
            smoother = moving_average_smoother(self.window, int(self.moving_average_kernel))
        self.model_ = TransDeNet(self.n_series_channels_, self.window, tuple(self.patch_sizes), self.d_model,
                                 self.n_heads, self.n_layers, self.dropout, smoother)  # fmt: skip
        self.model_.eval()
