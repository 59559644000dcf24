"""Copula detector: joint spatio-temporal likelihood of windows in a learned latent space.

After papers/beyond_marginals_copula_abstract.txt (no public code): a transformer encoder, shared by all
channels, gives each channel of a window a small latent vector; every latent coordinate has its own marginal
(a Gaussian mixture) and a Gaussian or Student-t copula models the dependence between them. Encoder,
marginals and copula are trained jointly on:

* the negative log-likelihood of normal windows (per latent coordinate);
* a contrastive margin hinge ``max(0, margin - (log p(normal) - log p(negative)) / D)`` that separates each
  normal window from an anomalous copy of it made by a registered generator (GenIAS by default);

Latents are standardised with the normal batch's statistics (the training set's when scoring), and the
marginal likelihood fits the marginals without training the encoder (it would reward squeezing latents into
clusters, having no Jacobian term); the copula term, invariant to monotone maps of each coordinate, and the
contrastive hinge train the encoder.

The score of a window is its negative joint log-likelihood ``-(sum_i log f_i(z_i) + log c(u))``; step scores
come from the shared window pipeline (``core.windows``, ``how``: max, mean, min or last over the windows of a
step). The generator of the negatives is built by ``generators.build.build_negative_generator`` with the
detector's window, seed and ``generator_budget`` share of ``time_budget`` (None: no wall-time limit anywhere).
``score_components`` returns the marginal and the copula (dependence) terms apart, so an anomaly that only
breaks inter-channel dependence can be seen in the copula term alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, BaseGenerator, Tags
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import (
    Interval,
    Options,
    check_is_fitted,
    training_constraints,
)
from anomalyforge.core.windows import WindowDetector, WindowGather, WindowSpec, window_scores, windows_to_steps
from anomalyforge.detectors.copula.model import LatentCopulaModel
from anomalyforge.generators.build import build_negative_generator
from anomalyforge.nn.training import TrainConfig, batched, fit_loop, predict_batched, seed_torch, torch_threads

__all__ = ["CopulaDetector"]

#: share of the training windows held out for early stopping (not a parameter of this detector)
VAL_FRACTION = 0.1
_POSITIVE = [Interval(int, 1, None)]
_NON_NEGATIVE = [Interval(float, 0.0, None)]


@DETECTORS.register(
    "copula",
    test_params={
        "window": 16,
        "patch_len": 4,
        "d_model": 8,
        "n_heads": 2,
        "n_layers": 1,
        "latent_dim": 1,
        "n_components": 2,
        "generator": "rules",
        "epochs": 3,
        "max_train_windows": 128,
        "batch_size": 32,
    },
)
class CopulaDetector(WindowDetector):
    """Transformer latents + marginal mixtures + Gaussian/Student-t copula, trained contrastively.

    Args:
        window: window length T.
        patch_len: time steps per transformer token.
        d_model, n_heads, n_layers: transformer size.
        latent_dim: latent numbers per channel (the copula has ``n_channels * latent_dim`` dimensions).
        n_components: Gaussian components of each marginal.
        copula: ``"gaussian"`` or ``"student_t"``.
        df: Student-t degrees of freedom; None learns them (``2 + softplus``).
        shrinkage: weight of the identity in the correlation matrix (keeps the density bounded).
        generator: registry name or generator instance making the negatives; None leaves channel swaps only
            (and pure likelihood training for one channel).
        swap_fraction: share of negatives that are channel swaps (dependence breaks with normal marginals)
            instead of generated anomalies; 0 uses the generator only.
        margin: required log-likelihood gap per latent coordinate between a window and its negative.
        contrast_weight: weight of the margin hinge.
        train_stride: step between training windows; max_train_windows: most windows used (evenly spread).
        epochs, batch_size, lr, patience: fit-loop settings (``training.fit_loop``).
        time_budget: wall seconds for the whole ``fit``, the generator's training included; None: no limit.
        generator_budget: share of ``time_budget`` given to the generator's own ``time_budget`` (when the
            generator has one and trains); the encoder and copula get what is left.
        head_lr_factor: the marginals and the copula learn at ``lr * head_lr_factor`` (their few
            parameters lag behind the encoder at the encoder's rate).
        score_stride: step between scored windows; how: "max", "mean", "min" or "last" over the windows of a
            step (``core.windows``).
        terms: what ``anomaly_score`` sums: ``"both"`` (the joint negative log-likelihood), ``"marginal"`` or
            ``"copula"`` (the dependence term alone); training is the same for all three.
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule (see ``anomalyforge.core.thresholds``).
        random_state: seed of initialisation, window sampling, generation and the generator's training.
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 2, None)],
        "patch_len": _POSITIVE,
        "d_model": _POSITIVE,
        "n_heads": _POSITIVE,
        "n_layers": _POSITIVE,
        "latent_dim": _POSITIVE,
        "n_components": _POSITIVE,
        "copula": [Options(("gaussian", "student_t"))],
        "df": [None, Interval(float, 0.0, None, "neither")],
        "shrinkage": [Interval(float, 0.0, 1.0)],
        "generator": [None, str, BaseGenerator],
        "swap_fraction": [Interval(float, 0.0, 1.0)],
        "margin": _NON_NEGATIVE,
        "contrast_weight": _NON_NEGATIVE,
        "train_stride": _POSITIVE,
        "max_train_windows": [Interval(int, 1, None)],
        "epochs": _POSITIVE,
        "batch_size": _POSITIVE,
        **training_constraints("lr", "patience", "time_budget"),
        "head_lr_factor": [Interval(float, 0.0, None, "neither")],
        "generator_budget": [Interval(float, 0.0, 1.0, "neither")],
        "score_stride": _POSITIVE,
        "how": [Options(("max", "mean", "min", "last"))],
        "terms": [Options(("both", "marginal", "copula"))],
        "score_batch_size": _POSITIVE,
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        window: int = 64,
        patch_len: int = 8,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        latent_dim: int = 2,
        n_components: int = 3,
        copula: str = "gaussian",
        df: float | None = None,
        shrinkage: float = 0.05,
        generator: Any = "genias",
        swap_fraction: float = 0.5,
        margin: float = 1.0,
        contrast_weight: float = 1.0,
        train_stride: int = 1,
        max_train_windows: int = 2000,
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-3,
        head_lr_factor: float = 10.0,
        patience: int = 5,
        time_budget: float | None = 120.0,
        generator_budget: float = 0.3,
        score_stride: int = 1,
        how: str = "max",
        terms: str = "both",
        score_batch_size: int = 256,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.patch_len = patch_len
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.latent_dim = latent_dim
        self.n_components = n_components
        self.copula = copula
        self.df = df
        self.shrinkage = shrinkage
        self.generator = generator
        self.swap_fraction = swap_fraction
        self.margin = margin
        self.contrast_weight = contrast_weight
        self.train_stride = train_stride
        self.max_train_windows = max_train_windows
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr_factor = head_lr_factor
        self.patience = patience
        self.time_budget = time_budget
        self.generator_budget = generator_budget
        self.score_stride = score_stride
        self.how = how
        self.terms = terms
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.threshold = threshold
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ modules
    def _build_modules(self) -> None:
        self.model_ = LatentCopulaModel(
            self.n_series_channels_,
            self.window,
            self.patch_len,
            self.d_model,
            self.n_heads,
            self.n_layers,
            self.latent_dim,
            self.n_components,
            self.copula,
            self.df,
            self.shrinkage,
        )
        self.model_.eval()

    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            train_stride=self.train_stride,
            max_train_windows=self.max_train_windows,
            batch_size=self.score_batch_size,
        )

    def _generator(self, budget: Budget) -> BaseGenerator | None:
        """The generator of the negatives (None: channel swaps only), with its share of the budget."""
        if self.generator is None:
            return None
        return build_negative_generator(
            self.generator, budget.share(self.generator_budget), window=self.window, random_state=self.random_state
        )

    def _negatives(
        self, Z: np.ndarray, windows: np.ndarray, rng: np.random.Generator, budget: Budget
    ) -> np.ndarray | None:
        """One negative per training window: a channel swap (share ``swap_fraction``) or a generated anomaly.

        A channel swap replaces 1 to C/2 channels of a window with the same channels of another random
        training window: every channel stays exactly normal on its own, only the dependence between channels
        is broken, which is what the copula term must learn to see.
        """
        n, _, C = windows.shape
        swap = rng.random(n) < (self.swap_fraction if C > 1 else 0.0)
        gen = self._generator(budget)
        if gen is None and not swap.any():
            return None
        if gen is None:
            swap[:] = C > 1
        negatives = windows.copy()
        if gen is not None and (~swap).any():
            if gen.tags.requires_training:
                gen.fit(Z)
                report = getattr(gen, "train_report_", None)  # what the package's trained generators record
                self._record_training("generator", report if report is not None else {"stopped_by": "unreported"})
            negatives[~swap] = gen.generate(windows[~swap], 1, random_state=rng).patched
        for i in np.flatnonzero(swap):
            k = int(rng.integers(1, max(C // 2, 1) + 1))
            channels = rng.choice(C, size=k, replace=False)
            j = (i + int(rng.integers(1, n))) % n if n > 1 else i
            negatives[i][:, channels] = windows[j][:, channels]
        return negatives

    # ------------------------------------------------------------------------------------------ fit
    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        budget = Budget(self.time_budget)
        self.n_series_channels_ = Z.shape[1]
        train = windows.materialise()
        rng = np.random.default_rng(self.random_state)
        negatives = self._negatives(Z, train, rng, budget)
        with torch_threads():
            seed_torch(self.random_state)
            self._build_modules()
            model = self.model_
            x_all = torch.as_tensor(train, dtype=torch.float32)
            neg_all = None if negatives is None else torch.as_tensor(negatives, dtype=torch.float32)
            D = self.n_series_channels_ * self.latent_dim

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                # Latents are standardised with the statistics of the normal batch (negatives too), so the
                # encoder can neither shrink nor inflate them to buy likelihood.
                raw = model.raw_latents(x_all[idx])
                mean = raw.mean(0)
                std = torch.sqrt(raw.var(0) + 1e-6) if len(idx) > 1 else torch.ones_like(mean)
                z = (raw - mean) / std
                dep = model.density(z)[1]
                # The marginals fit the latents, but their likelihood does not train the encoder: without a
                # Jacobian term it would reward squeezing the latents into clusters. The copula term is
                # invariant to monotone maps of each coordinate, so it trains the encoder safely.
                marg_fit = model.density.marginals(z.detach())[0].sum(-1)
                loss = -(marg_fit + dep).mean() / D
                if neg_all is not None:
                    marg_n, dep_n = model.density((model.raw_latents(neg_all[idx]) - mean) / std)
                    marg = model.density.marginals(z)[0].sum(-1)
                    gap = ((marg + dep) - (marg_n + dep_n)) / D
                    loss = loss + self.contrast_weight * torch.relu(self.margin - gap).mean()
                return loss.float()

            config = TrainConfig(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                patience=self.patience,
                val_fraction=VAL_FRACTION,
                time_budget=budget.seconds_for_fit_loop(),
            )
            optimizer = torch.optim.Adam(
                [
                    {"params": model.encoder.parameters(), "lr": self.lr},
                    {"params": model.density.parameters(), "lr": self.lr * self.head_lr_factor},
                ]
            )
            report = fit_loop(model, len(train), loss_fn, config, rng, optimizer=optimizer)
            with torch.no_grad():  # exact training statistics replace the batch statistics for scoring
                raw = torch.cat([model.raw_latents(x_all[sl]) for sl in batched(len(x_all), self.score_batch_size)])
                model.latent_mean.copy_(raw.mean(0))
                model.latent_std.copy_(torch.sqrt(raw.var(0) + 1e-6))
        self._record_training("model", report)

    # ------------------------------------------------------------------------------------------ score
    def _terms(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) standardised windows -> (b, 2): marginal and copula negative log-likelihoods."""
        model = self.model_

        def fn(x: torch.Tensor) -> torch.Tensor:
            _, marg, dep = model(x)
            return torch.stack([-marg, -dep], dim=1)

        return predict_batched(fn, batch, len(batch))

    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        terms = self._terms(batch)
        return {"both": terms[:, 0] + terms[:, 1], "marginal": terms[:, 0], "copula": terms[:, 1]}[self.terms]

    @contextlib.contextmanager
    def _scoring(self) -> Iterator[None]:
        with torch_threads():
            self.model_.eval()
            yield

    def score_components(self, X: Any) -> dict[str, np.ndarray]:
        """Per-step scores of each likelihood term.

        Args:
            X: (n_timesteps, n_channels) series.

        Returns:
            dict with ``"marginal"`` (-sum of marginal log densities), ``"copula"`` (-copula log density,
            the inter-channel dependence term) and ``"total"`` (their sum, what ``anomaly_score`` returns
            with ``terms="both"``), each (n_timesteps,) after the window -> step mapping.
        """
        X = self._checked_input(X)
        with torch_threads():
            self.model_.eval()
            terms, starts = window_scores(self._terms, self._standardise(X), self._window_spec())
        marginal, dependence = terms[:, 0], terms[:, 1]
        n = X.shape[0]
        return {
            "marginal": windows_to_steps(marginal, starts, self.window, n, self.how),
            "copula": windows_to_steps(dependence, starts, self.window, n, self.how),
            "total": windows_to_steps(marginal + dependence, starts, self.window, n, self.how),
        }

    def correlation(self) -> np.ndarray:
        """The fitted copula correlation matrix, (D, D) with D = n_channels * latent_dim."""
        check_is_fitted(self)
        with torch.no_grad():
            return self.model_.density.copula.correlation().numpy()
