"""CARLA (Darban et al., Pattern Recognition 2025) as published, with negatives from any registered generator.

Stage 1 (``pretext.CarlaPretext``): triplets of an anchor, an earlier positive and a generated negative.
Stage 2 (SCAN-style self-supervised classification): the pool is the training windows plus their negatives;
for every training window its ``n_neighbors`` nearest and furthest pool items in the stage-1 embedding
(exact search, ``nn.knn.mine_neighbours``, not the public code's ranking by distance to one random vector);
a classification head on the backbone is trained with ``model.scan_loss``. The class most training windows
fall in is the normal class; a window scores ``1 - P(normal class)``.

Registered as ``carla`` (CARLA's rule-based injection), ``genias_carla`` (GenIAS negatives, the GenIAS
paper's detector) and ``flow_carla`` (flow-sampled negatives). The kNN score on stage-1 features is another
method and has its own names (``knn_detector``). Early stopping uses a validation split of *training*
windows only, never test labels.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from anomalyforge.core.base import BaseGenerator
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval
from anomalyforge.core.windows import WindowGather
from anomalyforge.detectors.carla.model import scan_loss
from anomalyforge.detectors.carla.pretext import _NON_NEGATIVE, _POSITIVE, _SHARE, TINY, CarlaPretext
from anomalyforge.nn.knn import mine_neighbours
from anomalyforge.nn.training import TrainReport, fit_loop, predict_batched, resolve_device

__all__ = ["CARLA"]

_TINY = {**TINY, "n_classes": 4, "epochs_stage2": 3}
_GENIAS_TINY = {"epochs": 2, "hidden_channels": 8, "max_train_windows": 64}


@DETECTORS.register("flow_carla", defaults={"generator": "flow"},
    test_params={**_TINY, "generator": "flow"})  # fmt: skip
@DETECTORS.register("genias_carla", defaults={"generator": "genias"},
    test_params={**_TINY, "generator": "genias", "generator_params": _GENIAS_TINY})  # fmt: skip
@DETECTORS.register("carla", defaults={"generator": "rules"}, test_params=_TINY)  # fmt: skip
class CARLA(CarlaPretext):
    """CARLA: triplet pretext on generated anomalies, then SCAN-style self-supervised classification.

    Args:
        generator: registry name of the anomaly generator (``"rules"``, ``"genias"``, ``"flow"``, ...) or a
            generator instance (cloned before fitting); built by ``generators.build.fit_negative_generators``
            with this detector's window, seed and ``generator_budget`` share of ``time_budget``. Names joined by
            ``+`` (``"genias+rules"``) make a mixture: each training window's negative comes from one member,
            drawn uniformly.
        generator_params: parameters set on the generator; they win over the ones filled in (for a mixture, a
            dict from member name to that member's parameters).
        window: window length (paper: 200; 100 by default here, which halves the cost on a CPU).
        stride: step between training windows (paper: 5 for SMD; 10 by default, which with the 60 s budget
            fits and scores an SMD machine in about a minute on 2 cores, see bench/bench_carla_smd.py).
        score_stride: step between scored windows (1 scores every window).
        how: window -> time-step mapping, one of ``"last"``, ``"max"``, ``"mean"``, ``"min"`` (``core.windows``;
            ``"min"`` localises best when a window's score means "this window holds an anomaly somewhere").
        width: backbone width; blocks output ``width``, ``2 * width``, ``2 * width`` channels (CARLA's
            SMD config uses 4).
        embedding_dim: stage-1 embedding size.
        n_classes: stage-2 classes (paper: 10).
        n_neighbors: nearest / furthest neighbours mined per window (paper: 5 for SMD).
        positive_offset: the positive window starts 1..``positive_offset`` steps before the anchor (paper: 10).
        margin: triplet margin on squared distances of unit vectors (range 0..4).
        entropy_weight: weight of the batch-entropy term (paper: 2).
        furthest_weight: weight of the furthest-neighbour term ``-log(1 - <p_a, p_far>)`` (0 disables it).
        epochs_stage1, epochs_stage2: most epochs per stage (paper: 30 and 50).
        batch_size: windows per step (paper: 50).
        lr_stage1, lr_stage2: Adam learning rates (paper: 1e-3 and 1e-2).
        weight_decay_stage1, weight_decay_stage2: Adam weight decay (CARLA's SMD configs: 1e-2 and 1e-3).
        patience: early-stopping patience on the validation split of training windows (0: none).
        val_fraction: share of training windows held out for early stopping.
        time_budget: wall seconds for the whole ``fit`` (generator training included); None: nothing stops
            on wall time, the generator's training included (deterministic mode).
        generator_budget: share of ``time_budget`` given to the generator's own ``time_budget``.
        stage1_share: share of the time left after generation given to stage 1 (stage 2 gets the rest).
        clip: standardised values are clipped to [-clip, clip] (None: no clipping).
        max_train_windows: at most this many training windows, evenly spread (None: all).
        score_batch_size: windows per batch when scoring.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threshold, contamination: how ``threshold_`` is set from the training scores.
        random_state: seed of everything random (layer init, positives, negatives, batches, the generator).
    """

    common_check_exemptions: ClassVar[dict[str, str]] = {
        "planted_spike": "the published score 1 - P(majority class) need not rank a spike high: a window far from "
        "every training window can still fall in the majority class with P near 1 (the classifier's softmax "
        "saturates); carla_knn, which scores distances, passes",
    }
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_classes": [Interval(int, 2, None)],
        "entropy_weight": _NON_NEGATIVE,
        "furthest_weight": _NON_NEGATIVE,
        "epochs_stage2": _POSITIVE,
        "lr_stage2": [Interval(float, 0.0, None, "neither")],
        "weight_decay_stage2": _NON_NEGATIVE,
        "stage1_share": _SHARE,
    }

    def __init__(
        self,
        generator: str | BaseGenerator = "rules",
        generator_params: dict[str, Any] | None = None,
        window: int = 100,
        stride: int = 10,
        score_stride: int = 2,
        how: str = "min",
        width: int = 4,
        embedding_dim: int = 16,
        n_classes: int = 10,
        n_neighbors: int = 5,
        positive_offset: int = 10,
        margin: float = 1.0,
        entropy_weight: float = 2.0,
        furthest_weight: float = 0.0,
        epochs_stage1: int = 30,
        epochs_stage2: int = 50,
        batch_size: int = 50,
        lr_stage1: float = 1e-3,
        lr_stage2: float = 1e-2,
        weight_decay_stage1: float = 1e-2,
        weight_decay_stage2: float = 1e-3,
        patience: int = 5,
        val_fraction: float = 0.1,
        time_budget: float | None = 60.0,
        generator_budget: float = 0.5,
        stage1_share: float = 0.5,
        clip: float | None = None,
        max_train_windows: int | None = None,
        score_batch_size: int = 512,
        device: str = "auto",
        threshold: Any = None,
        contamination: float = 0.01,
        random_state: int | None = 0,
    ) -> None:
        self.generator = generator
        self.generator_params = generator_params
        self.window = window
        self.stride = stride
        self.score_stride = score_stride
        self.how = how
        self.width = width
        self.embedding_dim = embedding_dim
        self.n_classes = n_classes
        self.n_neighbors = n_neighbors
        self.positive_offset = positive_offset
        self.margin = margin
        self.entropy_weight = entropy_weight
        self.furthest_weight = furthest_weight
        self.epochs_stage1 = epochs_stage1
        self.epochs_stage2 = epochs_stage2
        self.batch_size = batch_size
        self.lr_stage1 = lr_stage1
        self.lr_stage2 = lr_stage2
        self.weight_decay_stage1 = weight_decay_stage1
        self.weight_decay_stage2 = weight_decay_stage2
        self.patience = patience
        self.val_fraction = val_fraction
        self.time_budget = time_budget
        self.generator_budget = generator_budget
        self.stage1_share = stage1_share
        self.clip = clip
        self.max_train_windows = max_train_windows
        self.score_batch_size = score_batch_size
        self.device = device
        self.threshold = threshold
        self.contamination = contamination
        self.random_state = random_state

    # ------------------------------------------------------------------------------------- stage 2
    def _n_classes(self) -> int:
        return int(self.n_classes)

    def _stage1_share(self) -> float:
        return float(self.stage1_share)

    def _fit_head(
        self, Z: np.ndarray, windows: WindowGather, negatives: np.ndarray, rng: np.random.Generator,
        device: torch.device, budget: Budget, stage1: TrainReport,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Stage 2 and the majority-class rule; returns the training windows' scores and starts."""
        pool, nearest, furthest = self._mine(windows, negatives, device)
        epoch_s = stage1.seconds / max(1, stage1.epochs_run)  # half an epoch kept back: the last one overruns
        report = self._stage2(windows, pool, nearest, furthest, rng, device,
                              budget.seconds_for_fit_loop(reserve=0.5 * epoch_s))  # fmt: skip
        self._record_training("stage2", report)
        probs = predict_batched(lambda b: F.softmax(self.model_(b), dim=1), windows, self.score_batch_size, device)
        counts = np.bincount(probs.argmax(axis=1), minlength=self.n_classes)
        self.class_counts_ = [int(c) for c in counts]
        self.normal_class_ = int(np.argmax(counts))
        return 1.0 - probs[:, self.normal_class_], windows.starts

    def _mine(self, windows: WindowGather, negatives: np.ndarray, device: torch.device):
        """Embed the pool (training windows, then negatives) and mine neighbours of the training windows."""
        full, starts, n = windows.view, windows.starts, len(windows)

        def pool(j: np.ndarray) -> np.ndarray:
            out = np.empty((len(j), *negatives.shape[1:]), dtype=np.float32)
            own = j < n
            out[own] = full[starts[j[own]]]
            out[~own] = negatives[j[~own] - n]
            return out

        emb = np.concatenate([
            predict_batched(self.model_.embed, windows, self.score_batch_size, device),
            predict_batched(self.model_.embed, negatives, self.score_batch_size, device),
        ])  # fmt: skip
        nearest, furthest = mine_neighbours(emb, min(self.n_neighbors, 2 * n - 1), rows=np.arange(n))
        return pool, nearest, furthest

    def _stage2(self, windows, pool, nearest, furthest, rng, device, seconds: float | None) -> TrainReport:
        model, k = self.model_, nearest.shape[1]
        full, starts = windows.view, windows.starts
        ew, fw = float(self.entropy_weight), float(self.furthest_weight)
        sample_rng = np.random.default_rng(rng.integers(2**63))

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            pick = sample_rng.integers(0, k, size=(2, len(idx)))
            parts = [full[starts[idx]], pool(nearest[idx, pick[0]])]
            if fw:
                parts.append(pool(furthest[idx, pick[1]]))
            # one forward pass over windows and neighbours together (BatchNorm sees them all)
            p = F.softmax(model(torch.from_numpy(np.concatenate(parts)).to(device)), dim=1).split(len(idx))
            return scan_loss(p[0], p[1], p[2] if fw else None, entropy_weight=ew, furthest_weight=fw)

        config = self._config(self.epochs_stage2, self.lr_stage2, self.weight_decay_stage2, seconds)
        return fit_loop(model, len(starts), loss_fn, config, rng)

    # --------------------------------------------------------------------------------------- score
    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) standardised windows -> (b,) ``1 - P(normal class)``."""
        normal = self.normal_class_
        p = predict_batched(lambda b: F.softmax(self.model_(b), dim=1)[:, normal], batch, len(batch),
                            resolve_device(self.device))  # fmt: skip
        return 1.0 - p.astype(np.float64)
