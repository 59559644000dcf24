"""Normalizing-flow density detectors on window vectors: ``realnvp`` and ``maf``.

After ../shared/papers/normalizing_flow_anomaly_detection.txt (section 4.2): a flow maps window vectors
(see ``features.py``: ``window`` steps x C channels, standardised with training statistics, optionally
PCA-reduced with a Gaussian residual) to a standard normal; the score of a window is its negative
log-likelihood, and each time step takes the max (or mean) over the windows that contain it.

The flows are zuko's (``zuko.flows.RealNVP``: affine coupling layers with alternating checkered masks;
``zuko.flows.MAF``: masked autoregressive affine layers with alternating orders), not hand-written layers.
Training minimises the mean NLL per feature with ``training.fit_loop`` (validation split, early stopping,
time budget); a little Gaussian noise (``train_noise``, in standard deviations) is added to training
vectors so that discrete or constant channels cannot make the density degenerate. Scoring runs in batches
over a zero-copy window view, so a 100k-step series never holds all windows in memory.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval
from anomalyforge.core.windows import WindowGather
from anomalyforge.detectors.flows.features import VectorModelDetector, WindowPCA, fit_pca
from anomalyforge.nn.flows import build_flow
from anomalyforge.nn.training import fit_loop, resolve_device, seed_torch, torch_threads

__all__ = ["FlowDetector", "RealNVPDetector", "MAFDetector"]

_OVERFLOW = 1e300  # the NLL given to windows whose likelihood under- or overflows

_TINY = {"window": 6, "transforms": 2, "hidden_features": 16, "epochs": 8, "max_train_windows": 300}


class FlowDetector(VectorModelDetector):
    """Negative log-likelihood of window vectors under a normalizing flow (base of realnvp and maf).

    Args:
        window: steps per window.
        n_components: None (model the full window vector), an int or a variance share in (0, 1) for a PCA
            reduction whose residual is scored as isotropic Gaussian noise.
        transforms: number of flow layers.
        hidden_features: width of the conditioner networks' hidden layers.
        hidden_layers: hidden layers per conditioner network.
        epochs, batch_size, lr, weight_decay, patience, val_fraction, time_budget: ``TrainConfig`` settings.
        train_stride: step between training windows.
        max_train_windows: cap on training windows (evenly spread over the series).
        train_noise: std of Gaussian noise added to standardised training vectors (0 disables).
        score_stride: step between scored windows (the last step is always covered).
        how: window -> step mapping (``core.windows``: "max", "mean", "min" or "last").
        score_batch_size: windows per scoring batch.
        contamination, threshold: threshold rule on the training scores (see ``thresholds``).
        random_state: seed of initialisation, noise and batching.
        device: "auto", "cpu" or "cuda".
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True)
    flow_kind: ClassVar[str] = "maf"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [None, Interval(int, 1, None), Interval(float, 0.0, 1.0, "neither")],
        "transforms": [Interval(int, 1, None)],
        "hidden_features": [Interval(int, 1, None)],
        "hidden_layers": [Interval(int, 1, None)],
        "train_noise": [Interval(float, 0.0, None)],
    }

    def __init__(
        self,
        window: int = 10,
        n_components: int | float | None = None,
        transforms: int = 4,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 5,
        val_fraction: float = 0.1,
        time_budget: float | None = None,
        train_stride: int = 1,
        max_train_windows: int = 10000,
        train_noise: float = 0.01,
        score_stride: int = 1,
        how: str = "max",
        score_batch_size: int = 2048,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.window = window
        self.n_components = n_components
        self.transforms = transforms
        self.hidden_features = hidden_features
        self.hidden_layers = hidden_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_fraction = val_fraction
        self.time_budget = time_budget
        self.train_stride = train_stride
        self.max_train_windows = max_train_windows
        self.train_noise = train_noise
        self.score_stride = score_stride
        self.how = how
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.threshold = threshold
        self.random_state = random_state
        self.device = device

    # --------------------------------------------------------------------------------------- modules
    def _build_modules(self) -> None:
        self.flow_ = build_flow(
            self.flow_kind, self.flow_dim_, self.transforms, self.hidden_features, self.hidden_layers
        )
        self._pca = (
            WindowPCA(self.pca_mean_, self.pca_components_, self.pca_residual_var_)
            if hasattr(self, "pca_components_")
            else None
        )

    def _to_device(self) -> torch.device:
        dev = resolve_device(self.device)
        self.flow_.to(dev)
        if self._pca is not None:
            self._pca.to(dev)
        return dev

    def log_prob(self, vectors: torch.Tensor) -> torch.Tensor:
        """Log-density of (b, window * C) standardised window vectors under the fitted model; shape (b,)."""
        if self._pca is None:
            return self.flow_().log_prob(vectors)
        codes, residual = self._pca.project(vectors)
        return self.flow_().log_prob(codes) + residual

    # ------------------------------------------------------------------------------------- fit/score
    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        vectors = windows.flat(np.float32)
        self.n_features_ = int(vectors.shape[1])
        if self.n_components is not None:
            self.pca_mean_, self.pca_components_, self.pca_residual_var_ = fit_pca(vectors, self.n_components)
            self.pca_mean_ = self.pca_mean_.astype(np.float32)
            self.pca_components_ = self.pca_components_.astype(np.float32)
        self.flow_dim_ = int(self.pca_components_.shape[0]) if self.n_components is not None else self.n_features_
        rng = np.random.default_rng(self.random_state)
        with torch_threads():
            gen = seed_torch(self.random_state)
            self._build_modules()
            dev = self._to_device()
            data = torch.from_numpy(vectors).to(dev)
            noise = float(self.train_noise)

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                x = data[torch.from_numpy(idx).to(dev)]
                if noise > 0 and self.flow_.training:
                    x = x + noise * torch.randn(x.shape, generator=gen).to(dev)
                return -self.log_prob(x).mean() / self.n_features_

            self._record_training("flow", fit_loop(self.flow_, len(vectors), loss_fn, self._train_config(), rng))
            self.flow_.cpu()

    @torch.no_grad()
    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        with torch_threads():
            dev = self._to_device()
            x = torch.from_numpy(batch.reshape(len(batch), -1).astype(np.float32)).to(dev)
            nll = (-self.log_prob(x)).double().cpu().numpy()
        # overflow far outside the training data: rank such windows highest, with a finite score
        return np.nan_to_num(nll, nan=_OVERFLOW, posinf=_OVERFLOW, neginf=-_OVERFLOW)


@DETECTORS.register("realnvp", test_params=_TINY)
class RealNVPDetector(FlowDetector):
    """RealNVP (affine coupling flow, zuko) negative log-likelihood of standardised window vectors."""

    flow_kind: ClassVar[str] = "realnvp"


@DETECTORS.register("maf", test_params=_TINY)
class MAFDetector(FlowDetector):
    """Masked autoregressive flow (zuko) negative log-likelihood of standardised window vectors."""

    flow_kind: ClassVar[str] = "maf"
