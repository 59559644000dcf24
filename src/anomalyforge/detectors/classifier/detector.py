"""A window classifier trained on normal training windows (label 0) against forged ones (label 1), the
NCAD / COUTA family of detectors that learn from injected anomalies.

Each epoch draws a fresh forgery of every training window with a registered generator (seeded from
``random_state`` and the epoch), so the network never sees the same forged window twice and cannot learn one
draw's quirks. Generators forge from the *raw* windows (data units), so ``_fit`` runs the window pipeline's
steps itself, as CARLA's stage 1 does; scoring is the template's (``_score_windows`` on batches).

Validation (early stopping) uses held-out normal training windows and their forgeries from the first
draw, kept fixed so that the validation loss is comparable between epochs; those windows never enter a
training batch, so their forgeries are never trained on. No test label is used.

The window score is the logit, the log-odds of P(anomaly), by default: the probability is a monotone
function of it, but in floating point it saturates at 0 and 1 for confidently classified windows, and the
ties it makes lose ranking resolution and make the contamination threshold flag whole tied blocks;
``score="probability"`` gives P(anomaly) itself.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, BaseGenerator, Tags
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval, Options, training_constraints
from anomalyforge.core.windows import (
    WindowDetector,
    WindowGather,
    WindowSpec,
    standardiser,
    training_windows,
)
from anomalyforge.detectors.classifier.model import WindowClassifierNet, bce_loss
from anomalyforge.generators.build import fit_negative_generators, forge_mixture
from anomalyforge.nn.training import (
    TorchModelScoring,
    TrainConfig,
    fit_loop,
    predict_batched,
    resolve_device,
    seed_torch,
    torch_threads,
)

__all__ = ["ForgedWindowClassifier"]

_TINY = {"window": 16, "stride": 2, "width": 4, "epochs": 3, "batch_size": 32}
# a GenIAS trained on 64 windows or for 2 epochs forges windows the classifier cannot tell from normal ones
# (a planted spike then ranks below the 90th percentile); 15 epochs on all windows take about a second
_GENIAS_TINY = {"epochs": 15, "hidden_channels": 8}
_POSITIVE = [Interval(int, 1, None)]


@DETECTORS.register("genias_classifier", defaults={"generator": "genias"},
    test_params={**_TINY, "epochs": 6, "generator": "genias", "generator_params": _GENIAS_TINY})  # fmt: skip
@DETECTORS.register("genias_rules_classifier", defaults={"generator": "genias+rules"},
    test_params={**_TINY, "epochs": 6, "generator": "genias+rules",
                 "generator_params": {"genias": _GENIAS_TINY}})  # fmt: skip
@DETECTORS.register("rules_classifier", defaults={"generator": "rules"}, test_params=_TINY)  # fmt: skip
class ForgedWindowClassifier(TorchModelScoring, WindowDetector):
    """Window classifier trained on normal vs forged windows (forged fresh each epoch); score = log-odds of
    P(anomaly) (or P itself).

    Args:
        generator: registry name of the generator that forges anomalies (``"rules"``, ``"genias"``, ...) or an
            instance (cloned before fitting); built by ``generators.build.fit_negative_generators`` with this
            detector's window, seed and ``generator_budget`` share of ``time_budget``. Several names joined by
            ``+`` (``"genias+rules"``) make a mixture: each epoch, each training window's forgery comes from
            one of them, drawn uniformly; the generators that train split the generator budget evenly.
        generator_params: parameters set on the generator; they win over the ones filled in. For a mixture, a
            dict from member name to that member's parameters (``{"genias": {"epochs": 20}}``).
        window: window length.
        stride: step between training windows.
        score_stride: step between scored windows (1 scores every window).
        how: window -> time-step mapping, ``"max"``, ``"mean"``, ``"min"`` or ``"last"`` (``core.windows``).
        score: ``"logit"`` (log-odds of P(anomaly), no saturation) or ``"probability"`` (P(anomaly)).
        width: backbone width (blocks output ``width``, ``2 * width``, ``2 * width`` channels).
        epochs: most epochs; each draws fresh forgeries.
        batch_size: normal windows per step (each batch holds as many forged ones besides).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: early-stopping patience on the validation windows (0: none).
        val_fraction: share of the training windows held out, with their forgeries, for early stopping.
        time_budget: wall seconds for the whole ``fit`` (generator training included); None: nothing stops on
            wall time, the generator's training included (deterministic mode).
        generator_budget: share of ``time_budget`` given to the generator's own ``time_budget``.
        max_train_windows: at most this many training windows, evenly spread (None: all).
        score_batch_size: windows per batch when scoring.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threshold, contamination: how ``threshold_`` is set from the training scores.
        random_state: seed of everything random (layer init, forgeries, batches, the generator).
    """

    tags: ClassVar[Tags] = Tags(multivariate=True, requires_training=True, uses_torch=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "generator": [str, BaseGenerator],  # a name, names joined by "+", or an instance
        "generator_params": [None, dict],
        "window": [Interval(int, 8, None)],  # the backbone's first kernel
        "stride": _POSITIVE,
        "score_stride": _POSITIVE,
        "how": [Options(("last", "max", "mean", "min"))],
        "score": [Options(("logit", "probability"))],
        "width": _POSITIVE,
        **training_constraints(
            "epochs", "batch_size", "lr", "weight_decay", "patience", "val_fraction", "time_budget"
        ),  # fmt: skip
        "generator_budget": [Interval(float, 0.0, 1.0, "neither")],
        "max_train_windows": [None, Interval(int, 2, None)],
        "score_batch_size": _POSITIVE,
        "device": [Options(("auto", "cpu", "cuda")), str],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        generator: str | BaseGenerator = "rules",
        generator_params: dict[str, Any] | None = None,
        window: int = 100,
        stride: int = 10,
        score_stride: int = 2,
        how: str = "max",
        score: str = "logit",
        width: int = 4,
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        patience: int = 5,
        val_fraction: float = 0.1,
        time_budget: float | None = 60.0,
        generator_budget: float = 0.5,
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
        self.score = score
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_fraction = val_fraction
        self.time_budget = time_budget
        self.generator_budget = generator_budget
        self.max_train_windows = max_train_windows
        self.score_batch_size = score_batch_size
        self.device = device
        self.threshold = threshold
        self.contamination = contamination
        self.random_state = random_state

    # ------------------------------------------------------------------------------------ pipeline
    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            train_stride=self.stride,
            max_train_windows=self.max_train_windows,
            batch_size=self.score_batch_size,
            dtype=np.float32,
        )

    def _build_modules(self) -> None:
        self.model_ = WindowClassifierNet(int(self.mean_.shape[0]), self.width)

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        budget = Budget(self.time_budget)
        rng = np.random.default_rng(self.random_state)
        device = resolve_device(self.device)
        self.mean_, self.std_ = standardiser(X)
        Z = self._standardise(X)
        windows = training_windows(Z, self._window_spec())
        with torch_threads():
            seed_torch(self.random_state)
            gens = self._fit_generators(X, budget)
            self._build_modules()
            self.model_.to(device)
            self._train(gens, X, windows, rng, device, budget)
        self.fit_seconds_ = round(budget.elapsed(), 3)

    def _fit_generators(self, X: np.ndarray, budget: Budget) -> list[BaseGenerator]:
        """The fitted generator, or a mixture's fitted members (``generators.build.fit_negative_generators``)."""
        return fit_negative_generators(
            self.generator, budget.share(self.generator_budget), X, window=self.window,
            random_state=self.random_state, params=self.generator_params, record=self._record_training,
        )  # fmt: skip

    def _forge(
        self, gens: list[BaseGenerator], X: np.ndarray, starts: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """(N, window, C) float32 standardised forgeries, one per training window, forged from the raw windows;
        with several generators each window's forger is drawn uniformly."""
        return forge_mixture(gens, X, starts, self.window, self._standardise, rng)[0]

    def _train(
        self, gens: list[BaseGenerator], X: np.ndarray, windows: WindowGather, rng: np.random.Generator,
        device: torch.device, budget: Budget,
    ) -> None:  # fmt: skip
        model, full, starts = self.model_, windows.view, windows.starts
        forge_seed = int(rng.integers(2**63))
        forged: dict[str, np.ndarray] = {}
        self.forgery_log_: list[dict[str, Any]] = []

        def on_epoch_start(epoch: int) -> None:
            # a fresh draw per epoch, seeded by the detector's seed and the epoch
            forged["train"] = self._forge(gens, X, starts, np.random.default_rng([forge_seed, epoch]))
            forged.setdefault("val", forged["train"])  # the first draw, fixed: validation windows never train
            digest = hashlib.sha1(forged["train"].tobytes()).hexdigest()[:16]
            self.forgery_log_.append({"epoch": epoch, "digest": digest})

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            negatives = forged["train" if model.training else "val"][idx]
            batch = torch.from_numpy(np.concatenate([full[starts[idx]], negatives])).to(device)
            labels = torch.cat([torch.zeros(len(idx)), torch.ones(len(idx))]).to(device)
            return bce_loss(model(batch), labels)  # one pass: BatchNorm sees normal and forged windows together

        config = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            patience=self.patience, val_fraction=self.val_fraction,
            time_budget=budget.seconds_for_fit_loop(safety=0.1),  # the last epoch runs past the check
        )  # fmt: skip
        self._record_training("model", fit_loop(model, len(starts), loss_fn, config, rng,
                                                on_epoch_start=on_epoch_start))  # fmt: skip

    # ---------------------------------------------------------------------------------------- score
    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) standardised windows -> (b,) logits of P(anomaly), or P(anomaly) itself."""
        logits = predict_batched(self.model_, batch, len(batch), resolve_device(self.device)).astype(np.float64)
        return logits if self.score == "logit" else 1.0 / (1.0 + np.exp(-logits))
