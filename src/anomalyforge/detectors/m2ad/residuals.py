"""M2AD building blocks: the LSTM forecaster, residuals, per-sensor Gaussian-mixture p-values, Fisher and Gamma.

Everything here is fitted on training data only; scoring applies stored statistics and never refits them
(the public M2AD code refits its scalers on the test data; this implementation does not).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from scipy.ndimage import uniform_filter1d
from scipy.special import gammaln, logsumexp
from sklearn.mixture import GaussianMixture
from torch import nn

__all__ = [
    "LSTMForecaster",
    "residual_features",
    "fit_mixtures",
    "mixture_log_sf",
    "fisher_statistic",
    "fit_gamma",
    "gamma_log_sf",
    "intervals_from_mask",
]


class LSTMForecaster(nn.Module):
    """Two-layer LSTM reading a (B, window, C) window and forecasting the next step (B, C) of every sensor."""

    def __init__(self, n_channels: int, hidden_size: int, n_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_channels, hidden_size, num_layers=n_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, n_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(x)
        return x[:, -1] + self.out(hidden[:, -1])  # forecast the change from the last observed step


def residual_features(
    y: np.ndarray, y_hat: np.ndarray, error_types: tuple[str, ...], smooth_window: int, area_window: int
) -> np.ndarray:
    """Residual features of every sensor.

    Args:
        y: (n, C) observed values; y_hat: (n, C) forecasts.
        error_types: any of ``"point"`` (|y - y_hat| smoothed by a centred moving average of
            ``smooth_window`` steps) and ``"area"`` (|area of y - area of y_hat| over a centred window of
            ``area_window`` steps: the rolling trapezoid areas of both series differ by the rolling area
            of y - y_hat).
        smooth_window, area_window: window lengths in steps.

    Returns:
        (n, C * len(error_types)) array, the features of one error type for all sensors side by side.
    """
    diff = y - y_hat
    out = []
    for kind in error_types:
        if kind == "point":
            out.append(uniform_filter1d(np.abs(diff), max(smooth_window, 1), axis=0, mode="nearest"))
        elif kind == "area":
            out.append(np.abs(uniform_filter1d(diff, max(area_window, 1), axis=0, mode="nearest")) * area_window)
        else:
            raise ValueError(f"unknown error type {kind!r}; use 'point' and/or 'area'")
    return np.concatenate(out, axis=1)


def fit_mixtures(features: np.ndarray, n_components: int, random_state: int | None) -> tuple[np.ndarray, ...]:
    """A 1-D Gaussian mixture per feature column (scikit-learn), returned as arrays.

    Args:
        features: (n, F) z-scored training residuals.

    Returns:
        ``(weights, means, stds)``, each (F, n_components).
    """
    F = features.shape[1]
    weights = np.empty((F, n_components))
    means = np.empty((F, n_components))
    stds = np.empty((F, n_components))
    for f in range(F):
        gmm = GaussianMixture(n_components, covariance_type="full", random_state=random_state, reg_covar=1e-6)
        gmm.fit(features[:, f : f + 1])
        weights[f] = gmm.weights_
        means[f] = gmm.means_[:, 0]
        stds[f] = np.sqrt(gmm.covariances_[:, 0, 0])
    return weights, means, stds


def mixture_log_sf(features: np.ndarray, weights: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """Log upper-tail p-value of every feature under its mixture: log P(E >= e), shape (n, F).

    Large residuals are the anomalous side, so the p-value is one-sided.
    """
    z = (features[:, :, None] - means[None]) / stds[None]
    return logsumexp(np.log(weights)[None] + stats.norm.logsf(z), axis=2)


def fisher_statistic(log_p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Fisher combination ``-2 * sum_f w_f * log p_f`` of (n, F) log p-values -> (n,)."""
    return -2.0 * log_p @ weights


def fit_gamma(statistic: np.ndarray) -> tuple[float, float]:
    """Gamma (shape, scale) by the method of moments on training statistics (all >= 0)."""
    mean, var = float(np.mean(statistic)), float(np.var(statistic))
    if mean <= 0 or var <= 0:
        return 1.0, max(mean, 1e-12)
    return mean**2 / var, var / mean


def gamma_log_sf(statistic: np.ndarray, shape: float, scale: float) -> np.ndarray:
    """Calibrated log p-value of statistics under the fitted Gamma (upper tail), always finite.

    Far in the tail scipy's ``logsf`` underflows to -inf; there the leading term of the upper incomplete
    gamma function, ``log Gamma(k, y) ~ (k - 1) log y - y`` with ``y = x / scale``, is used instead.
    """
    statistic = np.asarray(statistic, dtype=np.float64)
    log_sf = np.asarray(stats.gamma.logsf(statistic, shape, scale=scale), dtype=np.float64)
    bad = ~np.isfinite(log_sf)
    if bad.any():
        y = np.maximum(statistic[bad] / scale, 1e-300)
        log_sf[bad] = (shape - 1.0) * np.log(y) - y - gammaln(shape)
    return log_sf


def intervals_from_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a (n,) bool mask as ``(start, end)`` pairs, ``end`` exclusive."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
