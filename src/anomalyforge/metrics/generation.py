"""Generation-quality metrics of GenIAS (Appendix E): ARP (realism) and EDI (diversity) in a shared space.

Both metrics live in one fixed 128-dimensional representation fitted on the normal training windows of a
series and shared by every generator being compared. GenIAS uses a Deep SVDD encoder (Ruff et al., ICML
2018): ``DeepSVDDEmbedding``. Trained on windows of a single series it collapses (normal representations
spread over ~0.05 along one or two directions), so every distance, and ARP, hardly moves;
``WindowFeatureEmbedding`` is a fixed, training-free alternative (standardised per-channel window
summaries, projected to 128 dims) that keeps distances between unlike windows (bench/bench_arp_embedding.py
compares them). ``make_embedding("svdd" | "features")`` builds either.

- ``arp(real, generated)`` = 1 / (1 + mean over real anomalies of the Euclidean distance to the nearest
  generated anomaly) (Eq. 24): 1 when every real anomaly has a generated twin, towards 0 when far away.
  ARP depends on the scale of the representation (ARP of s * v is not ARP of v; the ranking of
  generators on one series does not change), so values from different embeddings or series are not
  comparable as such (Table 2's ARP ranges from 0.08 to 0.998 across datasets). Both embeddings therefore
  divide by the RMS distance of the normal training representations to their centre
  (``normalize_scale``): a distance of 1 is the typical distance of a normal window to the normal centre.
- ``edi(generated, reference=...)`` = Shannon entropy (natural log) of the share of generated anomalies
  in each of K regions (Eq. 25-27). The paper partitions "the overall representation space ... based on
  V_all", the union of the generated anomalies of all compared models, without naming the partition; we
  use K-means with K regions (default 10) fitted on that union (``reference``), each anomaly belonging
  to its nearest centroid. K-means regions do not change when the space is scaled, so EDI does not depend
  on the embedding's scale, only on K: Eq. 27 is not normalised (maximum log K); ``normalize=True``
  divides by log K, which gives values in [0, 1] like those of the paper's Table 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors
from torch import nn

from anomalyforge.core.validation import check_is_fitted, check_windows
from anomalyforge.nn.training import TrainConfig, fit_loop, predict_batched, seed_torch, torch_threads

__all__ = ["DeepSVDDEmbedding", "WindowFeatureEmbedding", "make_embedding", "EMBEDDINGS", "arp", "edi", "fit_regions"]


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



def _normal_sample(embedding: Any, normal_windows: np.ndarray) -> tuple[np.ndarray, np.random.Generator]:
    """Validated normal windows (at most ``max_windows``, drawn with ``random_state``); sets the embedding's
    ``window_``, ``n_channels_in_`` and per-channel ``mean_`` / ``std_`` (near-constant channels get std 1)."""
    W = check_windows(normal_windows, name="normal_windows")
    rng = np.random.default_rng(embedding.random_state)
    if len(W) > embedding.max_windows:
        W = W[np.sort(rng.choice(len(W), embedding.max_windows, replace=False))]
    embedding.window_, embedding.n_channels_in_ = W.shape[1], W.shape[2]
    embedding.mean_ = W.mean(axis=(0, 1))
    std = W.std(axis=(0, 1))
    embedding.std_ = np.where(std > 1e-8 * (1 + np.abs(embedding.mean_)), std, 1.0)
    return W, rng


def _to_unit_spread(embedding: Any, V: np.ndarray) -> None:
    """With ``normalize_scale``, divide the embedding (``scale_``) and its ``center_`` by the RMS distance of the
    normal representations ``V`` (computed at scale 1) to the centre, so distances are in units of normal spread."""
    if embedding.normalize_scale:
        rms = float(np.sqrt(((V - embedding.center_) ** 2).sum(axis=1).mean()))
        embedding.scale_ = rms if rms > 0 else 1.0
        embedding.center_ = embedding.center_ / embedding.scale_

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
        normalize_scale: divide representations (and the centre) by the RMS distance of the normal
            training representations to the centre, so that distances (and ARP) are in units of normal
            spread rather than in the collapsed scale training ends with.
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
        normalize_scale: bool = True,
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
        self.normalize_scale = normalize_scale
        self.random_state = random_state

    def fit(self, normal_windows: np.ndarray) -> DeepSVDDEmbedding:
        """Train on normal windows of shape (n, T, C) (2-D means one channel); returns self."""
        W, rng = _normal_sample(self, normal_windows)
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
        self.scale_ = 1.0
        _to_unit_spread(self, self.transform(W))
        return self

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Representations of windows (n, T, C) with the fitted window length and channels -> (n, dim) float64."""
        check_is_fitted(self)
        W = _check_fitted_shape(self, windows)
        mean = torch.as_tensor(self.mean_, dtype=torch.float32)
        std = torch.as_tensor(self.std_, dtype=torch.float32)
        with torch_threads():
            out = predict_batched(lambda b: self.model_((b - mean) / std), W, batch_size=256)
        return out.astype(np.float64) / self.scale_

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



def _window_features(Z: np.ndarray, n_segments: int, n_bands: int) -> np.ndarray:
    """Per-channel summaries of standardised windows (n, T, C) -> (n, C * (7 + n_segments + n_bands)).

    Level and spread (mean, std, min, max), change (mean and max absolute step, least-squares slope),
    shape (means of ``n_segments`` equal time segments) and spectrum (mean FFT magnitude of the de-meaned
    window in ``n_bands`` log-spaced frequency bands, phase-free).
    """
    n, T, C = Z.shape
    t = np.arange(T) - (T - 1) / 2
    d = np.abs(np.diff(Z, axis=1)) if T > 1 else np.zeros((n, 1, C))
    stats = [Z.mean(1), Z.std(1), Z.min(1), Z.max(1), d.mean(1), d.max(1), np.einsum("t,ntc->nc", t, Z) / (t @ t or 1)]
    segments = [Z[:, idx].mean(1) for idx in np.array_split(np.arange(T), min(n_segments, T))]
    mag = np.abs(np.fft.rfft(Z - Z.mean(1, keepdims=True), axis=1))[:, 1:] / np.sqrt(T)
    if mag.shape[1] == 0:
        mag = np.zeros((n, 1, C))
    edges = np.unique(np.geomspace(1, mag.shape[1] + 1, n_bands + 1).astype(int))
    bands = [mag[:, a - 1 : b - 1].mean(1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    bands += [np.zeros((n, C))] * (n_bands - len(bands))  # short windows: fewer distinct bands
    feats = np.stack(stats + segments + [np.zeros((n, C))] * (n_segments - len(segments)) + bands, axis=2)
    return feats.reshape(n, -1)


class WindowFeatureEmbedding:
    """A fixed, training-free 128-dim representation of windows: standardised window summaries, projected.

    Each channel is standardised with the normal training windows' mean and std; each window is summarised
    per channel by level, spread, change, segment means and spectral band magnitudes
    (``_window_features``); every summary is standardised by its spread over the normal training
    windows (at least ``min_feature_std``, so near-constant summaries cannot blow up), and the summaries
    are mapped to ``dim`` numbers by a fixed random map: an exact isometry (orthonormal columns) when
    there are at most ``dim`` summaries, a Gaussian Johnson-Lindenstrauss projection otherwise. Distances
    between representations are thus (approximately) distances between standardised summaries, so a
    window unlike the normal ones lies far from them; nothing is learned but the standardisation.

    Args:
        dim: representation size (128 in GenIAS).
        n_segments: segment means per channel.
        n_bands: spectral bands per channel.
        min_feature_std: floor of a summary's spread (in units of the standardised channel).
        normalize_scale: divide representations by the RMS distance of the normal training
            representations to their centre, so that distances (and ARP) are in units of normal spread.
        max_windows: at most this many training windows (a random subset) for the statistics.
        random_state: seed of the subset and of the projection.
    """

    def __init__(
        self,
        dim: int = 128,
        n_segments: int = 8,
        n_bands: int = 8,
        min_feature_std: float = 0.001,
        normalize_scale: bool = True,
        max_windows: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.dim = dim
        self.n_segments = n_segments
        self.n_bands = n_bands
        self.min_feature_std = min_feature_std
        self.normalize_scale = normalize_scale
        self.max_windows = max_windows
        self.random_state = random_state

    def _features(self, W: np.ndarray) -> np.ndarray:
        return _window_features((W - self.mean_) / self.std_, self.n_segments, self.n_bands)

    def fit(self, normal_windows: np.ndarray) -> WindowFeatureEmbedding:
        """Fit the standardisation on normal windows of shape (n, T, C) (2-D means one channel); returns self."""
        W, rng = _normal_sample(self, normal_windows)
        F = self._features(W)
        self.feature_mean_ = F.mean(axis=0)
        self.feature_std_ = np.maximum(F.std(axis=0), self.min_feature_std)
        n_feat = F.shape[1]
        if n_feat <= self.dim:
            q, _ = np.linalg.qr(rng.normal(size=(self.dim, n_feat)))
            self.projection_ = q.T  # (n_feat, dim), orthonormal rows: distances preserved exactly
        else:
            self.projection_ = rng.normal(size=(n_feat, self.dim)) / np.sqrt(self.dim)
        self.scale_ = 1.0
        V = self.transform(W)
        self.center_ = V.mean(axis=0)
        _to_unit_spread(self, V)
        return self

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Representations of windows (n, T, C) with the fitted window length and channels -> (n, dim) float64."""
        check_is_fitted(self)
        W = _check_fitted_shape(self, windows)
        Fz = (self._features(W) - self.feature_mean_) / self.feature_std_
        return Fz @ self.projection_ / self.scale_

    def distance_to_center(self, windows: np.ndarray) -> np.ndarray:
        """Squared distance of each window's representation to the normal centre, shape (n,)."""
        return ((self.transform(windows) - self.center_) ** 2).sum(axis=1)


def _check_fitted_shape(embedding, windows: np.ndarray) -> np.ndarray:
    W = check_windows(windows)
    if W.shape[1:] != (embedding.window_, embedding.n_channels_in_):
        raise ValueError(
            f"windows have shape (n, {W.shape[1]}, {W.shape[2]}); the embedding was fitted on windows of "
            f"{embedding.window_} steps and {embedding.n_channels_in_} channels"
        )
    return W


EMBEDDINGS: dict[str, type] = {"svdd": DeepSVDDEmbedding, "features": WindowFeatureEmbedding}


def make_embedding(name: str, **params: object) -> DeepSVDDEmbedding | WindowFeatureEmbedding:
    """Build a representation for ARP/EDI by name: ``"svdd"`` (Deep SVDD) or ``"features"`` (fixed summaries)."""
    if name not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(EMBEDDINGS)}")
    return EMBEDDINGS[name](**params)
