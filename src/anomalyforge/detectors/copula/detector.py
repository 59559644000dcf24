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
take the max (or mean) over the windows that contain the step. ``score_components`` returns the marginal
and the copula (dependence) terms apart, so an anomaly that only breaks inter-channel dependence can be
seen in the copula term alone.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import clone

from anomalyforge.core.base import BaseDetector, BaseGenerator, Tags
from anomalyforge.core.registry import DETECTORS, make_generator
from anomalyforge.core.windows import sliding_windows, standardiser, windows_to_steps
from anomalyforge.detectors.copula.model import LatentCopulaModel
from anomalyforge.nn.training import TrainConfig, batched, fit_loop, predict_batched, seed_torch, torch_threads

__all__ = ["CopulaDetector"]


@DETECTORS.register(
    "copula",
    test_params={
        "window": 16, "patch_len": 4, "d_model": 8, "n_heads": 2, "n_layers": 1, "latent_dim": 1,
        "n_components": 2, "generator": "rules", "epochs": 3, "max_train_windows": 128, "batch_size": 32,
    },
)
class CopulaDetector(BaseDetector):
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
        score_stride: step between scored windows; how: "max" or "mean" over the windows of a step.
        terms: what ``anomaly_score`` sums: ``"both"`` (the joint negative log-likelihood), ``"marginal"`` or
            ``"copula"`` (the dependence term alone); training is the same for all three.
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule (see ``anomalyforge.core.thresholds``).
        random_state: seed of initialisation, window sampling and generation.
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True)

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
            self.n_series_channels_, self.window, self.patch_len, self.d_model, self.n_heads, self.n_layers,
            self.latent_dim, self.n_components, self.copula, self.df, self.shrinkage,
        )
        self.model_.eval()

    def _check_params(self) -> None:
        if self.copula not in ("gaussian", "student_t"):
            raise ValueError(f"copula must be 'gaussian' or 'student_t', got {self.copula!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.window < 2 or self.patch_len < 1:
            raise ValueError(f"window must be >= 2 and patch_len >= 1; got {self.window}, {self.patch_len}")
        if self.how not in ("max", "mean"):
            raise ValueError(f"how must be 'max' or 'mean', got {self.how!r}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be positive or None, got {self.time_budget}")
        if not 0.0 < self.generator_budget < 1.0:
            raise ValueError(f"generator_budget must be in (0, 1), got {self.generator_budget}")
        if self.terms not in ("both", "marginal", "copula"):
            raise ValueError(f"terms must be 'both', 'marginal' or 'copula', got {self.terms!r}")

    def _make_generator(self) -> BaseGenerator | None:
        if self.generator is None:
            return None
        if isinstance(self.generator, str):
            gen = make_generator(self.generator)
        elif isinstance(self.generator, BaseGenerator):
            gen = clone(self.generator)
        else:
            raise TypeError(f"generator must be a registry name, a BaseGenerator or None, got {self.generator!r}")
        own = gen.get_params()
        if "window" in own:
            gen.set_params(window=self.window)
        if self.time_budget is not None and "time_budget" in own:
            budget = self.time_budget * self.generator_budget
            gen.set_params(time_budget=budget if own["time_budget"] is None else min(own["time_budget"], budget))
        return gen

    def _negatives(self, Z: np.ndarray, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """One negative per training window: a channel swap (share ``swap_fraction``) or a generated anomaly.

        A channel swap replaces 1 to C/2 channels of a window with the same channels of another random
        training window: every channel stays exactly normal on its own, only the dependence between channels
        is broken, which is what the copula term must learn to see.
        """
        n, _, C = windows.shape
        swap = rng.random(n) < (self.swap_fraction if C > 1 else 0.0)
        gen = self._make_generator()
        if gen is None and not swap.any():
            return None
        if gen is None:
            swap[:] = C > 1
        negatives = windows.copy()
        if gen is not None and (~swap).any():
            if gen.tags.requires_training:
                gen.fit(Z)
            negatives[~swap] = gen.generate(windows[~swap], 1, random_state=rng).patched
        for i in np.flatnonzero(swap):
            k = int(rng.integers(1, max(C // 2, 1) + 1))
            channels = rng.choice(C, size=k, replace=False)
            j = (i + int(rng.integers(1, n))) % n if n > 1 else i
            negatives[i][:, channels] = windows[j][:, channels]
        return negatives

    # ------------------------------------------------------------------------------------------ fit
    def min_series_length(self) -> int:
        return max(int(self.window), self.tags.min_length)

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        self._check_params()
        t0 = time.perf_counter()
        self.mean_, self.std_ = standardiser(X)
        self.n_series_channels_ = X.shape[1]
        Z = (X - self.mean_) / self.std_
        view, _ = sliding_windows(Z, self.window, self.train_stride)
        take = np.unique(np.linspace(0, len(view) - 1, min(len(view), self.max_train_windows)).round().astype(int))
        windows = np.ascontiguousarray(view[take])
        rng = np.random.default_rng(self.random_state)
        negatives = self._negatives(Z, windows, rng)
        with torch_threads():
            seed_torch(self.random_state)
            self._build_modules()
            model = self.model_
            x_all = torch.as_tensor(windows, dtype=torch.float32)
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

            left = None if self.time_budget is None else max(self.time_budget - (time.perf_counter() - t0), 1.0)
            config = TrainConfig.from_params(self, time_budget=left)
            optimizer = torch.optim.Adam(
                [
                    {"params": model.encoder.parameters(), "lr": self.lr},
                    {"params": model.density.parameters(), "lr": self.lr * self.head_lr_factor},
                ]
            )
            report = fit_loop(model, len(windows), loss_fn, config, rng, optimizer=optimizer)
            with torch.no_grad():  # exact training statistics replace the batch statistics for scoring
                raw = torch.cat([model.raw_latents(x_all[sl]) for sl in batched(len(x_all), self.score_batch_size)])
                model.latent_mean.copy_(raw.mean(0))
                model.latent_std.copy_(torch.sqrt(raw.var(0) + 1e-6))
        self.train_report_ = report.as_dict()

    # ------------------------------------------------------------------------------------------ score
    def _window_terms(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Marginal and copula negative log-likelihoods of every scored window, with the window starts."""
        Z = (X - self.mean_) / self.std_
        view, starts = sliding_windows(Z, self.window, self.score_stride)
        model = self.model_

        def fn(batch: torch.Tensor) -> torch.Tensor:
            _, marg, dep = model(batch)
            return torch.stack([-marg, -dep], dim=1)

        with torch_threads():
            model.eval()
            terms = predict_batched(fn, view, self.score_batch_size)
        return terms[:, 0], terms[:, 1], starts

    def _score(self, X: np.ndarray) -> np.ndarray:
        marginal, dependence, starts = self._window_terms(X)
        window_scores = {"both": marginal + dependence, "marginal": marginal, "copula": dependence}[self.terms]
        return windows_to_steps(window_scores, starts, self.window, X.shape[0], self.how)

    def score_components(self, X: Any) -> dict[str, np.ndarray]:
        """Per-step scores of each likelihood term.

        Args:
            X: (n_timesteps, n_channels) series.

        Returns:
            dict with ``"marginal"`` (-sum of marginal log densities), ``"copula"`` (-copula log density,
            the inter-channel dependence term) and ``"total"`` (their sum, what ``anomaly_score`` returns
            with ``terms="both"``),
            each (n_timesteps,) after the window -> step mapping.
        """
        from anomalyforge.core.validation import check_channels, check_is_fitted, check_series

        check_is_fitted(self)
        X = check_series(X, min_length=self.min_series_length())
        check_channels(X, self.n_channels_in_, type(self).__name__)
        marginal, dependence, starts = self._window_terms(X)
        n = X.shape[0]
        return {
            "marginal": windows_to_steps(marginal, starts, self.window, n, self.how),
            "copula": windows_to_steps(dependence, starts, self.window, n, self.how),
            "total": windows_to_steps(marginal + dependence, starts, self.window, n, self.how),
        }

    def correlation(self) -> np.ndarray:
        """The fitted copula correlation matrix, (D, D) with D = n_channels * latent_dim."""
        from anomalyforge.core.validation import check_is_fitted

        check_is_fitted(self)
        with torch.no_grad():
            return self.model_.density.copula.correlation().numpy()
