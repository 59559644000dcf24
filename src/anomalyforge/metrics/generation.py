"""Generation-quality metrics of GenIAS (Appendix E): ARP (realism) and EDI (diversity) in a Deep SVDD space.

Both metrics live in one fixed 128-dimensional representation: a Deep SVDD encoder (Ruff et al., ICML
2018) trained on the normal training windows of a series, shared by every generator being compared.

- ``arp(real, generated)`` = 1 / (1 + mean over real anomalies of the Euclidean distance to the nearest
  generated anomaly) (Eq. 24): 1 when every real anomaly has a generated twin, towards 0 when far away.
- ``edi(generated, reference=...)`` = Shannon entropy (natural log) of the share of generated anomalies
  in each of K regions (Eq. 25-27). The paper partitions "the overall representation space ... based on
  V_all", the union of the generated anomalies of all compared models, without naming the partition; we
  use K-means with K regions (default 10) fitted on that union (``reference``), each anomaly belonging
  to its nearest centroid. Eq. 27 is not normalised (maximum log K); ``normalize=True`` divides by log K,
  which gives values in [0, 1] like those of the paper's Table 2.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors
from torch import nn

from anomalyforge.core.validation import check_is_fitted, check_windows
from anomalyforge.nn.training import TrainConfig, fit_loop, predict_batched, seed_torch, torch_threads

__all__ = ["DeepSVDDEmbedding", "arp", "edi", "fit_regions"]


class _SVDDEncoder(nn.Module):
    """Bias-free 1-D conv encoder (n, T, C) -> (n, dim); no bias so the hypersphere cannot collapse trivially."""

    def __init__(self, n_channels: int, hidden: int, dim: int, pooled: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_channels, hidden, kernel_size=7, padding=3, bias=False),
            nn.LeakyReLU(0.1),
            nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(hidden, 2 * hidden, kernel_size=5, padding=2, bias=False),
            nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool1d(pooled),
            nn.Flatten(),
            nn.Linear(2 * hidden * pooled, dim, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2))


class DeepSVDDEmbedding:
    """A fixed Deep SVDD representation of windows, trained on normal windows (one-class objective).

    The encoder maps a window to ``dim`` (128) numbers and is trained to pull the normal training windows
    towards a centre ``c`` fixed from the initial forward pass (coordinates near 0 pushed to +-``eps``,
    as Ruff et al. do); windows are standardised with the training windows' per-channel mean and std.

    Args:
        dim: representation size (128 in GenIAS).
        hidden: channels of the first convolution.
        epochs, batch_size, lr, weight_decay: training settings (Adam).
        time_budget: wall seconds after which training stops (None: no limit). Only a safety net: a run
            stopped by the clock depends on the machine's load, so comparisons should stop by epochs
            (``train_report_["stopped_by"]`` says which).
        max_windows: at most this many training windows (a random subset), to keep fitting cheap.
        eps: smallest absolute value of a centre coordinate.
        random_state: seed of initialisation, subsampling and batch order.
    """

    def __init__(
        self,
        dim: int = 128,
        hidden: int = 32,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        time_budget: float | None = 600.0,
        max_windows: int = 1000,
        eps: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.time_budget = time_budget
        self.max_windows = max_windows
        self.eps = eps
        self.random_state = random_state

    def fit(self, normal_windows: np.ndarray) -> DeepSVDDEmbedding:
        """Train on normal windows of shape (n, T, C) (2-D means one channel); returns self."""
        W = check_windows(normal_windows, name="normal_windows")
        rng = np.random.default_rng(self.random_state)
        if len(W) > self.max_windows:
            W = W[np.sort(rng.choice(len(W), self.max_windows, replace=False))]
        self.window_, self.n_channels_in_ = W.shape[1], W.shape[2]
        self.mean_ = W.mean(axis=(0, 1))
        std = W.std(axis=(0, 1))
        self.std_ = np.where(std > 1e-8 * (1 + np.abs(self.mean_)), std, 1.0)
        with torch_threads():
            seed_torch(self.random_state)
            self.model_ = _SVDDEncoder(self.n_channels_in_, self.hidden, self.dim)
            X = torch.as_tensor((W - self.mean_) / self.std_, dtype=torch.float32)
            with torch.no_grad():
                c = self.model_(X[: min(len(X), 1024)]).mean(dim=0)
            c = torch.where(c.abs() < self.eps, torch.where(c < 0, -self.eps, self.eps), c)
            self.center_ = c.numpy().astype(np.float64)

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                return ((self.model_(X[idx]) - c) ** 2).sum(dim=1).mean()

            config = TrainConfig(
                epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                time_budget=self.time_budget,
            )  # fmt: skip
            self.train_report_ = fit_loop(self.model_, len(X), loss_fn, config, rng).as_dict()
        return self

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Representations of windows (n, T, C) with the fitted window length and channels -> (n, dim) float64."""
        check_is_fitted(self)
        W = check_windows(windows)
        if W.shape[1:] != (self.window_, self.n_channels_in_):
            raise ValueError(
                f"windows have shape (n, {W.shape[1]}, {W.shape[2]}); the embedding was fitted on windows of "
                f"{self.window_} steps and {self.n_channels_in_} channels"
            )
        mean = torch.as_tensor(self.mean_, dtype=torch.float32)
        std = torch.as_tensor(self.std_, dtype=torch.float32)
        with torch_threads():
            out = predict_batched(lambda b: self.model_((b - mean) / std), W, batch_size=256)
        return out.astype(np.float64)

    def distance_to_center(self, windows: np.ndarray) -> np.ndarray:
        """Deep SVDD anomaly score of each window: squared distance to the centre, shape (n,)."""
        return ((self.transform(windows) - self.center_) ** 2).sum(axis=1)


def _represent(x: np.ndarray, embedding: DeepSVDDEmbedding | None, what: str) -> np.ndarray:
    if embedding is not None:
        return embedding.transform(x)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(
            f"{what}: without an embedding, pass representations of shape (n, d) with n >= 1; got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def arp(
    real_anomalies: np.ndarray, generated: np.ndarray, embedding: DeepSVDDEmbedding | None = None
) -> float:
    """Anomalous Representation Proximity (GenIAS Eq. 24), in (0, 1]; higher = more realistic.

    Args:
        real_anomalies: real anomalous windows (n_real, T, C), or representations (n_real, d) when
            ``embedding`` is None.
        generated: generated anomalous windows (n_gen, T, C), or representations (n_gen, d).
        embedding: a fitted ``DeepSVDDEmbedding``; None means the inputs are already representations.

    Returns:
        1 / (1 + mean_r min_g ||v_r - v_g||).
    """
    real = _represent(real_anomalies, embedding, "real_anomalies")
    gen = _represent(generated, embedding, "generated")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"real representations have {real.shape[1]} dims, generated ones {gen.shape[1]}")
    dist, _ = NearestNeighbors(n_neighbors=1).fit(gen).kneighbors(real)
    return float(1.0 / (1.0 + dist[:, 0].mean()))


def fit_regions(reference: np.ndarray, n_regions: int = 10, random_state: int = 0) -> KMeans:
    """K-means partition of a representation space (n, d) into at most ``n_regions`` regions.

    Fewer regions are used when the reference has fewer distinct points than ``n_regions``.
    """
    ref = _represent(reference, None, "reference")
    k = max(1, min(int(n_regions), len(np.unique(ref, axis=0))))
    return KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(ref)


def edi(
    generated: np.ndarray,
    embedding: DeepSVDDEmbedding | None = None,
    n_regions: int = 10,
    reference: np.ndarray | None = None,
    regions: KMeans | None = None,
    normalize: bool = False,
    random_state: int = 0,
) -> float:
    """Entropy-based Diversity Index (GenIAS Eq. 25-27); higher = more diverse.

    Args:
        generated: generated anomalous windows (n, T, C), or representations (n, d) without ``embedding``.
        embedding: a fitted ``DeepSVDDEmbedding``; None means the inputs are already representations.
        n_regions: K, the number of K-means regions.
        reference: what the regions are fitted on: V_all, the union of the generated anomalies of every
            compared model (windows, or representations without ``embedding``); default ``generated``.
        regions: an already fitted partition (from ``fit_regions``), used instead of ``reference``.
        normalize: divide by log K (the maximum), giving a value in [0, 1].
        random_state: K-means seed.

    Returns:
        -sum_i p_i log p_i over the regions (0 when all anomalies fall in one region, log K when uniform).
    """
    gen = _represent(generated, embedding, "generated")
    if regions is None:
        ref = gen if reference is None else _represent(reference, embedding, "reference")
        regions = fit_regions(ref, n_regions, random_state)
    k = int(regions.n_clusters)
    counts = np.bincount(regions.predict(gen), minlength=k)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log(p)).sum()) + 0.0  # no -0.0
    if normalize:
        return entropy / np.log(k) if k > 1 else 0.0
    return entropy
