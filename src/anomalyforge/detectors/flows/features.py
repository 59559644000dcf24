"""Window vectors shared by the flow and autoencoder detectors.

A window of ``window`` steps x C channels, standardised per channel with the training mean and standard
deviation, is flattened to one vector of ``window * C`` features (time-major: step 0's channels first).
Optionally it is reduced by PCA, fitted on the training vectors; the part of the vector outside the kept
components (the residual) is then modelled as isotropic Gaussian noise with the training residual
variance, as in probabilistic PCA, so that the density stays a density over the whole window space and an
anomaly orthogonal to the kept components still raises the score.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE
from anomalyforge.core.validation import Interval, Options, training_constraints
from anomalyforge.core.windows import WindowDetector, WindowSpec
from anomalyforge.nn.training import TrainConfig

__all__ = ["VectorModelDetector", "VECTOR_CLIP", "WindowPCA", "fit_pca"]

VECTOR_CLIP = 1e4  # standardised values beyond this are clipped before the network (keeps float32 finite)


class VectorModelDetector(WindowDetector):
    """A torch model over flattened window vectors (base of the flows and the autoencoder).

    Owns the window and training parameters its subclasses share: ``window``, ``train_stride``,
    ``max_train_windows``, ``score_stride``, ``how``, ``score_batch_size``, ``epochs``, ``batch_size``,
    ``lr``, ``weight_decay``, ``patience``, ``val_fraction``, ``time_budget``, ``random_state``, ``device``.
    Standardised values are clipped to +-``VECTOR_CLIP`` standard deviations.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 1, None)],
        "train_stride": [Interval(int, 1, None)],
        "max_train_windows": [Interval(int, 2, None)],
        "score_stride": [Interval(int, 1, None)],
        "how": [Options(("max", "mean", "min", "last", "point"))],
        "score_batch_size": [Interval(int, 1, None)],
        **training_constraints("epochs", "batch_size", "lr", "weight_decay", "patience", "val_fraction", "time_budget"),
        "random_state": RANDOM_STATE,
        "device": [str],
    }
    window: int
    train_stride: int
    max_train_windows: int
    score_stride: int
    how: str
    score_batch_size: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    val_fraction: float
    time_budget: float | None

    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            train_stride=self.train_stride,
            max_train_windows=self.max_train_windows,
            batch_size=self.score_batch_size,
            clip=VECTOR_CLIP,
        )

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            val_fraction=self.val_fraction,
            time_budget=self.time_budget,
        )


def fit_pca(vectors: np.ndarray, n_components: int | float) -> tuple[np.ndarray, np.ndarray, float]:
    """PCA of training vectors through the eigendecomposition of their covariance.

    Args:
        vectors: (n, d) training vectors.
        n_components: an int (kept components, at most d - 1) or a float in (0, 1) (share of variance kept).

    Returns:
        ``(mean (d,), components (k, d), residual_var)``: the residual variance is the mean variance per
        discarded dimension (floored at 1e-6 so the residual density stays proper).
    """
    X = np.asarray(vectors, dtype=np.float64)
    n, d = X.shape
    if d < 2:
        raise ValueError(f"PCA reduction needs at least 2 features per window, got {d}; set n_components=None")
    mean = X.mean(axis=0)
    cov = np.cov(X - mean, rowvar=False, bias=True).reshape(d, d)
    eigval, eigvec = np.linalg.eigh(cov)
    eigval, eigvec = np.clip(eigval[::-1], 0.0, None), eigvec[:, ::-1]
    if isinstance(n_components, float) and 0.0 < n_components < 1.0:
        share = np.cumsum(eigval) / max(eigval.sum(), 1e-12)
        k = int(np.searchsorted(share, n_components) + 1)
    elif isinstance(n_components, int | np.integer) and n_components >= 1:
        k = int(n_components)
    else:
        raise ValueError(f"n_components must be None, an int >= 1 or a float in (0, 1); got {n_components!r}")
    k = min(k, d - 1)
    residual_var = float(max(eigval[k:].mean(), 1e-6))
    return mean, np.ascontiguousarray(eigvec[:, :k].T), residual_var


class WindowPCA:
    """Torch-side projection of window vectors onto fitted components, with the residual log-density.

    Args:
        mean: (d,) mean of the training vectors.
        components: (k, d) orthonormal rows.
        residual_var: variance per discarded dimension.
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, residual_var: float) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.components = torch.as_tensor(components, dtype=torch.float32)
        self.residual_var = float(residual_var)
        self.n_residual = components.shape[1] - components.shape[0]

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reduce (b, d) vectors to (b, k) codes; also return the (b,) residual log-density."""
        centred = x - self.mean
        codes = centred @ self.components.T
        resid_sq = (centred.square().sum(dim=1) - codes.square().sum(dim=1)).clamp_min(0.0)
        log_density = -0.5 * (
            resid_sq / self.residual_var + self.n_residual * math.log(2 * math.pi * self.residual_var)
        )
        return codes, log_density

    def to(self, device: torch.device) -> WindowPCA:
        """Move the projection to ``device``; returns self."""
        self.mean = self.mean.to(device)
        self.components = self.components.to(device)
        return self
