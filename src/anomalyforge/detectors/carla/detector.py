"""CARLA (Darban et al., Pattern Recognition 2025) with negatives from any registered anomaly generator.

Stage 1 (pretext): triplets of an anchor window, a positive window starting 1..``positive_offset`` steps
earlier and a negative (the anchor with an anomaly from the generator); a triplet margin loss on squared
distances between L2-normalised embeddings. Stage 2 (SCAN-style self-supervised classification): the pool
is the training windows plus their negatives; for every training window its ``n_neighbors`` nearest and
furthest pool items in the stage-1 embedding (exact search, ``mining.mine_neighbours``); a classification
head on the backbone is trained with ``-log <p_a, p_near> - entropy_weight * H(mean p_a)
[- furthest_weight * log(1 - <p_a, p_far>)]``. The class most training windows fall in is the normal
class; a window scores ``1 - P(normal class)`` (``score="majority"``, the published rule).

``score="knn"`` (the default) skips stage 2 and scores a window by its mean distance to the ``n_neighbors``
nearest training windows in a feature space: the standardised stage-1 backbone features next to each
window's per-channel mean, standard deviation and tail mean (``knn_features="both"``, statistics weighted
by ``stats_weight``). Why the default deviates from the paper: the majority rule assumes one class holds
the normal windows, but the batch-entropy term spreads the training windows evenly over the classes (a
periodic series splits by phase), so most normal windows get scores near 1 (SMD machine-2-1, a development
machine: point-level AUPR 0.10 with the majority rule, 0.41 with kNN on backbone features). Why the window
statistics: on SMD development machines (never the reported machine-1-2) the stage-1 backbone features alone
ranked anomalies worse than the plain window statistics, and a GenIAS-trained backbone worse than an
untrained one; point-level AUPR with ``how="min"``, GenIAS negatives, backbone only -> both (weight 4):
machine-2-1 0.30 -> 0.54, machine-2-2 0.25 -> 0.41, machine-1-3 0.10 -> 0.18, machine-3-2 0.07 -> 0.03
(machine-3-2's anomalies are invisible to the statistics; the backbone alone does better there).
``how`` maps window scores to time steps (default ``"min"``, see ``mining.windows_to_steps``).
Training windows' kNN scores (for the threshold) skip references sharing a step with the window; on a
training series shorter than about two windows the skipped zone shrinks until ``n_neighbors`` remain
(``knn_exclusion_``, with a warning: those scores are optimistic).

``generator="rules"`` is CARLA as published, ``"genias"`` GenIAS+CARLA, ``"flow"`` flow-sampled negatives.
Early stopping uses a validation split of *training* windows only, never test labels.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone

from anomalyforge.core.base import BaseDetector, BaseGenerator, Tags
from anomalyforge.core.registry import DETECTORS, GENERATORS
from anomalyforge.core.validation import check_channels, check_is_fitted, check_series
from anomalyforge.core.windows import HOWS, WindowGather, series_windows, standardiser, window_starts, windows_to_steps
from anomalyforge.detectors.carla.backbone import CarlaNet
from anomalyforge.detectors.carla.mining import feasible_exclusion, knn_distance, mine_neighbours, window_stats
from anomalyforge.nn.training import TrainConfig, fit_loop, predict_batched, resolve_device, seed_torch, torch_threads

__all__ = ["CARLA"]

_EPS = 1e-8
_TINY = {
    "window": 16, "stride": 2, "width": 4, "embedding_dim": 8, "n_classes": 4, "n_neighbors": 3,
    "epochs_stage1": 3, "epochs_stage2": 3, "batch_size": 32,
}  # fmt: skip


@DETECTORS.register("flow_carla", defaults={"generator": "flow"}, test_params={**_TINY, "generator": "flow"},
    description="CARLA with negatives pasted from a MAF's low-likelihood region (flow generator).")  # fmt: skip
@DETECTORS.register("genias_carla", defaults={"generator": "genias"},
    description="GenIAS+CARLA: CARLA trained with GenIAS-generated anomalies as negatives.",
    test_params={**_TINY, "generator": "genias",
    "generator_params": {"epochs": 2, "hidden_channels": 8, "max_train_windows": 64, "time_budget": 20.0}})  # fmt: skip
@DETECTORS.register("carla", defaults={"generator": "rules"}, test_params=_TINY,
    description="CARLA: triplet pretext on rule-injected anomalies (as published), kNN/SCAN scores.")  # fmt: skip
class CARLA(BaseDetector):
    """CARLA: triplet pretext on generated anomalies, then SCAN-style self-supervised classification.

    Args:
        generator: registry name of the anomaly generator (``"rules"``, ``"genias"``, ``"flow"``, ...) or a
            generator instance (cloned before fitting).
        generator_params: parameters set on the generator. For a registry name, ``window``,
            ``random_state`` and ``time_budget`` (a ``generator_budget`` share of ``time_budget``) are filled
            in when the generator has them and they are not given here.
        window: window length (paper: 200; 100 by default here, which halves the cost on a CPU).
        stride: step between training windows (paper: 5 for SMD; 10 by default, which with the 60 s budget
            was measured to fit and score an SMD machine in about 70 s on 2 cores, see bench/bench_carla_smd.py).
        score_stride: step between scored windows (1 scores every window).
        reference_stride: step between the training windows kept as kNN references (None: ``score_stride``).
        max_reference_windows: at most about this many kNN reference windows: on a longer training series the
            reference stride grows (never beyond ``window``, so every step stays covered). The kNN search is
            outside the training loop's ``time_budget``; this cap keeps its cost bounded (None: no cap).
        how: window -> time-step mapping, one of ``"last"``, ``"max"``, ``"mean"``, ``"min"``
            (see ``mining.windows_to_steps``; ``"min"`` localises best when a window's score means "this
            window holds an anomaly somewhere").
        score: ``"knn"`` (mean distance to the nearest training windows in the stage-1 features; no stage 2)
            or ``"majority"`` (stage 2 and ``1 - P(majority class)``, as published).
        knn_features: what the kNN score compares: ``"backbone"`` (the stage-1 backbone features),
            ``"stats"`` (each window's per-channel mean, standard deviation and mean of its last 10 steps,
            ``mining.window_stats``) or ``"both"`` (concatenated).
        stats_weight: weight of the window statistics against the backbone features with ``"both"``; each
            block is standardised per dimension and divided by the root of its size first, so 1 weighs the
            two blocks equally however many channels there are.
        feature_clip: standardised kNN features are clipped to [-feature_clip, feature_clip] (None: no
            clipping), so one near-constant training channel that moves at test time cannot swamp the rest.
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
        time_budget: wall seconds for the whole ``fit`` (generator training included); None: no limit.
        generator_budget: share of ``time_budget`` given to the generator's own ``time_budget``.
        stage1_share: share of the time left after generation given to stage 1 (stage 2 gets the rest).
        clip: standardised values are clipped to [-clip, clip] (None: no clipping).
        max_train_windows: at most this many training windows, evenly spread (None: all).
        score_batch_size: windows per batch when scoring.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threshold, contamination: how ``threshold_`` is set from the training scores.
        random_state: seed of everything random (layer init, positives, negatives, batches).
    """

    tags: ClassVar[Tags] = Tags(multivariate=True, requires_training=True, uses_torch=True)

    def __init__(
        self,
        generator: str | BaseGenerator = "rules",
        generator_params: dict[str, Any] | None = None,
        window: int = 100,
        stride: int = 10,
        score_stride: int = 2,
        reference_stride: int | None = None,
        max_reference_windows: int | None = 20_000,
        how: str = "min",
        score: str = "knn",
        knn_features: str = "both",
        stats_weight: float = 4.0,
        feature_clip: float | None = None,
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
        self.reference_stride = reference_stride
        self.max_reference_windows = max_reference_windows
        self.how = how
        self.score = score
        self.knn_features = knn_features
        self.stats_weight = stats_weight
        self.feature_clip = feature_clip
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

    # ------------------------------------------------------------------------------------ helpers
    def min_series_length(self) -> int:
        return max(int(self.window), self.tags.min_length)

    def _check_params(self) -> None:
        if self.score not in ("knn", "majority"):
            raise ValueError(f"score must be 'knn' or 'majority', got {self.score!r}")
        if self.knn_features not in ("backbone", "stats", "both"):
            raise ValueError(f"knn_features must be 'backbone', 'stats' or 'both', got {self.knn_features!r}")
        if self.how not in HOWS:
            raise ValueError(f"how must be one of {HOWS}, got {self.how!r}")
        for name in ("window", "stride", "score_stride", "width", "n_classes", "n_neighbors", "positive_offset"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.reference_stride is not None and self.reference_stride < 1:
            raise ValueError(f"reference_stride must be >= 1 or None, got {self.reference_stride}")
        if self.max_reference_windows is not None and self.max_reference_windows < self.n_neighbors + 1:
            raise ValueError(
                f"max_reference_windows must be None or > n_neighbors={self.n_neighbors}, "
                f"got {self.max_reference_windows}"
            )
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if self.window < 8:
            raise ValueError(f"window must be >= 8 (the backbone's first kernel), got {self.window}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be positive or None, got {self.time_budget}")

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean_) / self.std_
        if self.clip is not None:
            np.clip(Z, -self.clip, self.clip, out=Z)
        return Z.astype(np.float32)

    def _build_modules(self) -> None:
        self.model_ = CarlaNet(int(self.mean_.shape[0]), self.width, self.embedding_dim, self.n_classes)

    def _make_generator(self, budget: float | None) -> BaseGenerator:
        params = dict(self.generator_params or {})
        if isinstance(self.generator, BaseGenerator):
            gen = clone(self.generator)
        elif isinstance(self.generator, str):
            if self.generator not in GENERATORS:
                raise ValueError(
                    f"unknown generator {self.generator!r}; registered generators: {', '.join(GENERATORS.names())}"
                )
            gen = GENERATORS.make(self.generator)
            own = gen.get_params(deep=False)
            auto = {"window": self.window, "random_state": self.random_state, "time_budget": budget}
            params = {k: v for k, v in auto.items() if k in own and (k != "time_budget" or v)} | params
        else:
            raise TypeError(
                f"generator must be a registry name or a BaseGenerator, got {type(self.generator).__name__}"
            )
        if params:
            gen.set_params(**params)
        return gen

    def _negatives(self, gen: BaseGenerator, X: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, window, C) float32 standardised negatives: each training window with a generated anomaly."""
        raw = series_windows(X, self.window)
        out = np.empty((len(starts), self.window, X.shape[1]), dtype=np.float32)
        changed = 0.0
        for lo in range(0, len(starts), 512):  # chunks keep float64 copies small
            sl = slice(lo, lo + 512)
            made = gen.generate(raw[starts[sl]], 1, rng)
            out[sl] = self._standardise(made.patched.reshape(-1, X.shape[1])).reshape(made.patched.shape)
            changed += float(made.mask.mean()) * len(made.mask)
        self.generation_report_["mean_changed_fraction"] = round(changed / len(starts), 4)
        return out

    # ---------------------------------------------------------------------------------------- fit
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        self._check_params()
        t0 = time.perf_counter()
        deadline = None if self.time_budget is None else t0 + float(self.time_budget)
        rng = np.random.default_rng(self.random_state)
        device = resolve_device(self.device)
        self.mean_, self.std_ = standardiser(X)
        Z = self._standardise(X)
        full = series_windows(Z, self.window)
        starts = window_starts(X.shape[0], self.window, self.stride)
        if self.max_train_windows and len(starts) > self.max_train_windows:
            keep = np.linspace(0, len(starts) - 1, self.max_train_windows).round().astype(int)
            starts = starts[np.unique(keep)]
        n = len(starts)
        if n < self.n_neighbors + 2:
            raise ValueError(
                f"{n} training windows are too few for n_neighbors={self.n_neighbors}; "
                "pass a longer series, a smaller window or stride, or fewer neighbours"
            )
        with torch_threads():
            seed_torch(self.random_state)
            gen = self._make_generator(None if deadline is None else self.time_budget * self.generator_budget)
            self.generation_report_ = {"generator": getattr(gen, "registry_name", type(gen).__name__)}
            if gen.tags.requires_training:
                gen.fit(X)
            negatives = self._negatives(gen, X, starts, rng)
            del gen
            self.generation_report_["seconds"] = round(time.perf_counter() - t0, 3)
            self.model_ = CarlaNet(X.shape[1], self.width, self.embedding_dim, self.n_classes).to(device)

            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            share = self.stage1_share if self.score == "majority" else 1.0
            self.stage1_report_ = self._stage1(full, starts, negatives, rng, device, None if left is None else
                                               0.9 * left * share)  # fmt: skip
            if self.score == "knn":
                self.stage2_report_ = None  # not run: the kNN score uses the stage-1 features
                window_scores, starts = self._fit_knn(Z, device)
            else:
                window_scores = self._fit_classifier(full, starts, negatives, rng, device, deadline)
        # training scores (window starts always include the last window)
        self.train_scores_ = windows_to_steps(window_scores, starts, self.window, X.shape[0], self.how)
        self.fit_seconds_ = round(time.perf_counter() - t0, 3)

    def _raw_knn_features(self, Z: np.ndarray, starts: np.ndarray, device: torch.device) -> np.ndarray:
        """(len(starts), d) kNN features of the windows of the standardised series Z, before scaling."""
        parts = []
        if self.knn_features in ("backbone", "both"):
            view = WindowGather(series_windows(Z, self.window), starts)
            parts.append(predict_batched(self.model_.features, view, self.score_batch_size, device))
        if self.knn_features in ("stats", "both"):
            parts.append(window_stats(Z, starts, self.window))
        return np.concatenate([p.astype(np.float64) for p in parts], axis=1)

    def _scale_knn_features(self, feats: np.ndarray) -> np.ndarray:
        out = (feats - self.feature_mean_) / self.feature_std_
        if self.feature_clip is not None:
            np.clip(out, -self.feature_clip, self.feature_clip, out=out)
        return (out * self.feature_scale_).astype(np.float32)

    def _reference_stride(self, n_timesteps: int) -> int:
        """The step between kNN reference windows: ``reference_stride`` (or ``score_stride``), grown so that
        at most about ``max_reference_windows`` are kept, but never beyond ``window``."""
        stride = self.reference_stride or self.score_stride
        if self.max_reference_windows is not None:
            needed = -(-(n_timesteps - self.window + 1) // self.max_reference_windows)  # ceil division
            stride = max(stride, min(needed, self.window))
        return int(stride)

    def _fit_knn(self, Z: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        """Keep the scaled kNN features of the reference windows (every ``reference_stride`` steps).

        Returns the reference windows' scores (distance to their k nearest references that share no step
        with them) and their starts.
        """
        starts = window_starts(Z.shape[0], self.window, self._reference_stride(Z.shape[0]))
        feats = self._raw_knn_features(Z, starts, device)
        std = feats.std(axis=0)
        self.feature_mean_, self.feature_std_ = feats.mean(axis=0), np.where(std > 1e-8, std, 1.0)
        n_backbone = self.model_.backbone.out_features if self.knn_features != "stats" else 0
        n_stats = feats.shape[1] - n_backbone
        scale = np.empty(feats.shape[1])
        scale[:n_backbone] = 1.0 / np.sqrt(max(n_backbone, 1))
        scale[n_backbone:] = (self.stats_weight if n_backbone else 1.0) / np.sqrt(max(n_stats, 1))
        self.feature_scale_ = scale
        self.train_features_ = self._scale_knn_features(feats)
        k = self.n_neighbors
        self.knn_exclusion_ = feasible_exclusion(starts, k, self.window)
        if self.knn_exclusion_ < self.window:
            warnings.warn(
                f"the training series ({Z.shape[0]} steps) is too short for every training window to have "
                f"{k} neighbours sharing none of its steps: training windows' kNN scores now skip only "
                f"neighbours starting within {self.knn_exclusion_} steps (a window is {self.window}), so they "
                "are optimistic and the contamination threshold is low",
                stacklevel=4,  # _fit_knn <- _fit <- BaseDetector.fit <- the caller
            )
        scores = knn_distance(self.train_features_, self.train_features_, k, starts, starts, self.knn_exclusion_)
        return scores, starts

    def _fit_classifier(self, full, starts, negatives, rng, device, deadline) -> np.ndarray:
        """Stage 2 and the majority-class rule; returns the training windows' scores."""
        pool_getter, nearest, furthest = self._mine(full, starts, negatives, device)
        epoch_s = self.stage1_report_["seconds"] / max(1, self.stage1_report_["epochs_run"])
        left = None if deadline is None else max(0.0, deadline - time.perf_counter() - 0.5 * epoch_s)
        self.stage2_report_ = self._stage2(full, starts, pool_getter, nearest, furthest, rng, device, left)
        probs = predict_batched(lambda b: F.softmax(self.model_(b), dim=1), WindowGather(full, starts),
                                self.score_batch_size, device)  # fmt: skip
        counts = np.bincount(probs.argmax(axis=1), minlength=self.n_classes)
        self.class_counts_ = [int(c) for c in counts]
        self.normal_class_ = int(np.argmax(counts))
        return 1.0 - probs[:, self.normal_class_]

    def _config(self, epochs: int, lr: float, weight_decay: float, budget: float | None) -> TrainConfig:
        return TrainConfig.from_params(self, epochs=epochs, lr=lr, weight_decay=weight_decay, time_budget=budget)

    def _stage1(self, full, starts, negatives, rng, device, budget) -> dict[str, Any]:
        model, margin, offset = self.model_, float(self.margin), int(self.positive_offset)
        sample_rng = np.random.default_rng(rng.integers(2**63))

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            s = starts[idx]
            pos = np.maximum(s - sample_rng.integers(1, offset + 1, size=len(s)), 0)
            batch = np.concatenate([full[s], full[pos], negatives[idx]])
            e = model.embed(torch.from_numpy(batch).to(device))
            a, p, neg = e.split(len(s))
            return F.relu((a - p).pow(2).sum(1) - (a - neg).pow(2).sum(1) + margin).mean()

        params = [*model.backbone.parameters(), *model.projection.parameters()]
        config = self._config(self.epochs_stage1, self.lr_stage1, self.weight_decay_stage1, budget)
        return fit_loop(model, len(starts), loss_fn, config, rng, parameters=params).as_dict()

    def _mine(self, full, starts, negatives, device):
        """Embed the pool (training windows, then negatives) and mine neighbours of the training windows."""
        n = len(starts)

        def pool(j: np.ndarray) -> np.ndarray:
            out = np.empty((len(j), *negatives.shape[1:]), dtype=np.float32)
            own = j < n
            out[own] = full[starts[j[own]]]
            out[~own] = negatives[j[~own] - n]
            return out

        emb = np.concatenate([
            predict_batched(self.model_.embed, WindowGather(full, starts), self.score_batch_size, device),
            predict_batched(self.model_.embed, negatives, self.score_batch_size, device),
        ])  # fmt: skip
        nearest, furthest = mine_neighbours(emb, min(self.n_neighbors, 2 * n - 1), rows=np.arange(n))
        return pool, nearest, furthest

    def _stage2(self, full, starts, pool, nearest, furthest, rng, device, budget) -> dict[str, Any]:
        model, k = self.model_, nearest.shape[1]
        ew, fw = float(self.entropy_weight), float(self.furthest_weight)
        sample_rng = np.random.default_rng(rng.integers(2**63))

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            pick = sample_rng.integers(0, k, size=(2, len(idx)))
            parts = [full[starts[idx]], pool(nearest[idx, pick[0]])]
            if fw:
                parts.append(pool(furthest[idx, pick[1]]))
            p = F.softmax(model(torch.from_numpy(np.concatenate(parts)).to(device)), dim=1).split(len(idx))
            consistency = -torch.log((p[0] * p[1]).sum(1).clamp_min(_EPS)).mean()
            mean_p = p[0].mean(0)
            loss = consistency + ew * (mean_p * torch.log(mean_p.clamp_min(_EPS))).sum()  # - ew * entropy
            if fw:
                loss = loss - fw * torch.log((1.0 - (p[0] * p[2]).sum(1)).clamp_min(_EPS)).mean()
            return loss

        config = self._config(self.epochs_stage2, self.lr_stage2, self.weight_decay_stage2, budget)
        return fit_loop(model, len(starts), loss_fn, config, rng).as_dict()

    # -------------------------------------------------------------------------------------- score
    def window_scores(self, X: Any, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores of windows every ``stride`` steps (default ``score_stride``), before the step mapping.

        Args:
            X: (n_timesteps, n_channels) series with the fitted channel count.
            stride: step between windows (the last window always ends at the last step).

        Returns:
            ``(scores, starts)``: (n_windows,) ``1 - P(normal class)`` and (n_windows,) window starts.
        """
        check_is_fitted(self)
        X = check_series(X, min_length=self.min_series_length())
        check_channels(X, self.n_channels_in_, type(self).__name__)
        return self._window_scores(X, stride or self.score_stride)

    def _window_scores(self, X: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
        device = resolve_device(self.device)
        starts = window_starts(X.shape[0], self.window, stride)
        Z = self._standardise(X)
        windows = WindowGather(series_windows(Z, self.window), starts)
        self.model_.to(device).eval()
        with torch_threads():
            if self.score == "knn":
                feats = self._scale_knn_features(self._raw_knn_features(Z, starts, device))
                return knn_distance(feats, self.train_features_, self.n_neighbors), starts
            normal = self.normal_class_
            p = predict_batched(
                lambda b: F.softmax(self.model_(b), dim=1)[:, normal], windows, self.score_batch_size, device
            )
        return 1.0 - p.astype(np.float64), starts

    def _score(self, X: np.ndarray) -> np.ndarray:
        scores, starts = self._window_scores(X, self.score_stride)
        return windows_to_steps(scores, starts, self.window, X.shape[0], self.how)
