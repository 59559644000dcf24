"""CARLA's stage 1, shared by the published detector (``detector.CARLA``) and the kNN variant
(``knn_detector.CarlaKNN``): standardise, cut training windows, forge one negative per window with a
registered generator, and train the backbone and projection head on triplets.

A triplet is an anchor window, a positive window starting 1..``positive_offset`` steps earlier and a
negative (the anchor with an anomaly from the generator); the loss is ``model.triplet_loss``. What comes
after stage 1 (the stage-2 classifier or a kNN score) is a subclass's ``_fit_head`` and ``_score_windows``.

The window pipeline is ``core.windows`` throughout. ``_fit`` calls its steps itself instead of
``WindowDetector._fit`` because the generator forges negatives from the *raw* windows (data units), which
``_fit_windows(windows, Z)`` does not receive; scoring is the template's (``_score_windows`` on batches).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, BaseGenerator, Tags
from anomalyforge.core.budget import Budget
from anomalyforge.core.validation import (
    Interval,
    Options,
    training_constraints,
)
from anomalyforge.core.windows import (
    WindowDetector,
    WindowGather,
    WindowSpec,
    standardiser,
    training_windows,
    window_scores,
    windows_to_steps,
)
from anomalyforge.detectors.carla.model import CarlaNet, triplet_loss
from anomalyforge.generators.build import fit_negative_generators, forge_mixture
from anomalyforge.nn.training import (
    TorchModelScoring,
    TrainConfig,
    TrainReport,
    fit_loop,
    resolve_device,
    seed_torch,
    torch_threads,
)

__all__ = ["CarlaPretext", "TINY"]

#: small settings for the common checks
TINY = {
    "window": 16, "stride": 2, "width": 4, "embedding_dim": 8, "n_neighbors": 3, "epochs_stage1": 3,
    "batch_size": 32,
}  # fmt: skip
_POSITIVE = [Interval(int, 1, None)]
_NON_NEGATIVE = [Interval(float, 0.0, None)]
_SHARE = [Interval(float, 0.0, 1.0, "neither")]


class CarlaPretext(TorchModelScoring, WindowDetector):
    """Stage 1 of CARLA (triplet pretext on generated negatives); subclasses add what scores the windows.

    Parameters shared by every CARLA variant (the subclasses document them in their ``Args``): generator,
    generator_params, window, stride, score_stride, how, width, embedding_dim, n_neighbors,
    positive_offset, margin, epochs_stage1, batch_size, lr_stage1, weight_decay_stage1, patience,
    val_fraction, time_budget, generator_budget, clip, max_train_windows, score_batch_size, device,
    threshold, contamination, random_state.
    """

    tags: ClassVar[Tags] = Tags(multivariate=True, requires_training=True, uses_torch=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "generator": [str, BaseGenerator],
        "generator_params": [None, dict],
        "window": [Interval(int, 8, None)],  # the backbone's first kernel
        "stride": _POSITIVE,
        "score_stride": _POSITIVE,
        "how": [Options(("last", "max", "mean", "min"))],
        "width": _POSITIVE,
        "embedding_dim": _POSITIVE,
        "n_neighbors": _POSITIVE,
        "positive_offset": _POSITIVE,
        "margin": _NON_NEGATIVE,
        "epochs_stage1": _POSITIVE,
        "batch_size": _POSITIVE,
        "lr_stage1": [Interval(float, 0.0, None, "neither")],
        "weight_decay_stage1": _NON_NEGATIVE,
        **training_constraints("patience", "val_fraction", "time_budget"),
        "generator_budget": _SHARE,
        "clip": [None, Interval(float, 0.0, None, "neither")],
        "max_train_windows": [None, Interval(int, 2, None)],
        "score_batch_size": _POSITIVE,
        "device": [Options(("auto", "cpu", "cuda")), str],
        "random_state": RANDOM_STATE,
    }
    generator: str | BaseGenerator
    generator_params: dict[str, Any] | None
    window: int
    stride: int
    score_stride: int
    how: str
    width: int
    embedding_dim: int
    n_neighbors: int
    positive_offset: int
    margin: float
    epochs_stage1: int
    batch_size: int
    lr_stage1: float
    weight_decay_stage1: float
    patience: int
    val_fraction: float
    time_budget: float | None
    generator_budget: float
    clip: float | None
    max_train_windows: int | None
    score_batch_size: int
    device: str
    random_state: int | None

    # ------------------------------------------------------------------------------- subclass hooks
    def _n_classes(self) -> int | None:
        """Classes of the network's classification head (None: no head)."""
        raise NotImplementedError

    def _stage1_share(self) -> float:
        """Share of the time left after generation that stage 1 may use."""
        raise NotImplementedError

    def _fit_head(
        self, Z: np.ndarray, windows: WindowGather, negatives: np.ndarray, rng: np.random.Generator,
        device: torch.device, budget: Budget, stage1: TrainReport,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """After stage 1: fit what scores windows; return the training windows' scores and their starts."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ pipeline
    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            train_stride=self.stride,
            max_train_windows=self.max_train_windows,
            batch_size=self.score_batch_size,
            clip=self.clip,
            dtype=np.float32,
        )

    def _build_modules(self) -> None:
        self.model_ = CarlaNet(int(self.mean_.shape[0]), self.width, self.embedding_dim, self._n_classes())

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        budget = Budget(self.time_budget)
        rng = np.random.default_rng(self.random_state)
        device = resolve_device(self.device)
        self.mean_, self.std_ = standardiser(X)
        Z = self._standardise(X)
        windows = training_windows(Z, self._window_spec())
        if len(windows) < self.n_neighbors + 2:
            raise ValueError(
                f"{len(windows)} training windows are too few for n_neighbors={self.n_neighbors}; "
                "pass a longer series, a smaller window or stride, or fewer neighbours"
            )
        with torch_threads():
            seed_torch(self.random_state)
            negatives = self._fit_generator_and_forge(X, windows.starts, rng, budget)
            self._build_modules()
            self.model_.to(device)
            stage1 = self._stage1(windows, negatives, rng, device, budget.share(self._stage1_share()))
            self._record_training("stage1", stage1)
            window_scores, starts = self._fit_head(Z, windows, negatives, rng, device, budget, stage1)
        # training scores (window starts always include the last window)
        self.train_scores_ = windows_to_steps(window_scores, starts, self.window, X.shape[0], self.how)
        self.fit_seconds_ = round(budget.elapsed(), 3)

    def _fit_generator_and_forge(
        self, X: np.ndarray, starts: np.ndarray, rng: np.random.Generator, budget: Budget
    ) -> np.ndarray:
        """Build and fit the generator (its share of the budget; a mixture ``"genias+rules"`` gives each window
        a member drawn uniformly, ``generators.build.fit_negative_generators``), then forge one negative per
        training window."""
        gens = fit_negative_generators(
            self.generator, budget.share(self.generator_budget), X, window=self.window,
            random_state=self.random_state, params=self.generator_params, record=self._record_training,
        )  # fmt: skip
        names = [getattr(gen, "registry_name", None) or type(gen).__name__ for gen in gens]
        self.generation_report_: dict[str, Any] = {"generator": "+".join(names)}
        negatives = self._negatives(gens, X, starts, rng)
        self.generation_report_["seconds"] = round(budget.elapsed(), 3)
        return negatives

    def _negatives(
        self, gens: list[BaseGenerator], X: np.ndarray, starts: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """(N, window, C) float32 standardised negatives: each training window with a generated anomaly."""
        out, changed = forge_mixture(gens, X, starts, self.window, self._standardise, rng)
        self.generation_report_["mean_changed_fraction"] = round(changed, 4)
        return out

    def _config(self, epochs: int, lr: float, weight_decay: float, seconds: float | None) -> TrainConfig:
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=lr,
            weight_decay=weight_decay,
            patience=self.patience,
            val_fraction=self.val_fraction,
            time_budget=seconds,
        )

    def _stage1(
        self, windows: WindowGather, negatives: np.ndarray, rng: np.random.Generator, device: torch.device,
        budget: Budget,
    ) -> TrainReport:  # fmt: skip
        model, margin, offset = self.model_, float(self.margin), int(self.positive_offset)
        full, starts = windows.view, windows.starts
        sample_rng = np.random.default_rng(rng.integers(2**63))

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            s = starts[idx]
            pos = np.maximum(s - sample_rng.integers(1, offset + 1, size=len(s)), 0)
            batch = np.concatenate([full[s], full[pos], negatives[idx]])
            anchor, positive, negative = model.embed(torch.from_numpy(batch).to(device)).split(len(s))
            return triplet_loss(anchor, positive, negative, margin)

        params = [*model.backbone.parameters(), *model.projection.parameters()]
        # 10% kept back: the loop checks the clock only after an epoch, and the last one runs past it
        config = self._config(self.epochs_stage1, self.lr_stage1, self.weight_decay_stage1,
                              budget.seconds_for_fit_loop(safety=0.1))  # fmt: skip
        return fit_loop(model, len(starts), loss_fn, config, rng, parameters=params)

    # ---------------------------------------------------------------------------------------- score
    def window_scores(self, X: Any, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores of windows every ``stride`` steps (default ``score_stride``), before the step mapping.

        Args:
            X: (n_timesteps, n_channels) series with the fitted channel count.
            stride: step between windows (the last window always ends at the last step).

        Returns:
            ``(scores, starts)``: (n_windows,) window scores and (n_windows,) window starts.
        """
        X = self._checked_input(X)
        spec = replace(self._window_spec(), score_stride=stride or self.score_stride)
        with self._scoring():
            return window_scores(self._score_windows, self._standardise(X), spec)
