"""M2AD: forecasting residuals of many sensors (and systems) combined into one calibrated anomaly p-value.

After M2AD (AISTATS 2025, papers/recent_anomaly_detection_papers.txt; notes in IMPLEMENTATION_NOTES.md):

1. a 2-layer LSTM per system forecasts the next step of each of its sensors from the previous ``window``;
2. residual features per sensor: the smoothed point error |y - y^| and the area error (difference of the
   rolling areas of y and y^), z-scored with TRAINING statistics;
3. a 1-D Gaussian mixture per sensor and error type (1 component by default) fitted on training residuals
   gives each step an upper-tail p-value;
4. Fisher's combination ``S = -2 * sum_f w_f log p_f`` over sensors, error types and systems
   (w = system weight x sensor weight);
5. a Gamma distribution fitted by the method of moments on the training S turns S into a calibrated p-value.

The score of a step is ``-log10`` of that calibrated p-value (``score="log10p"``) or S itself
(``score="fisher"``); both rank steps identically. ``anomaly_intervals`` returns the runs where the calibrated
p-value is below ``p_value`` (0.001). Nothing is ever refitted on the scored data.

Several systems: pass a list of time-aligned multivariate series to ``fit_systems`` / ``score_systems`` /
``anomaly_intervals``; they are scored together (one score per time step). Equivalently, set
``system_sizes`` (channels per system, in order) and pass the channels side by side as one series.

The first ``window`` steps have no forecast; their forecast is the observation itself (zero error), so they
score as unremarkable.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from anomalyforge.core.base import RANDOM_STATE, BaseDetector, Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import (
    Interval,
    Options,
    check_channels,
    check_is_fitted,
    check_series,
    training_constraints,
)
from anomalyforge.core.windows import even_subsample, sliding_windows, standardise, standardiser
from anomalyforge.detectors.m2ad.residuals import (
    LSTMForecaster,
    fisher_statistic,
    fit_gamma,
    fit_mixtures,
    gamma_log_sf,
    intervals_from_mask,
    mixture_log_sf,
    residual_features,
)
from anomalyforge.nn.training import TrainConfig, fit_loop, predict_batched, seed_torch, torch_threads

__all__ = ["M2AD"]


@DETECTORS.register(
    "m2ad",
    test_params={"window": 16, "hidden_size": 8, "epochs": 2, "max_train_windows": 200, "batch_size": 32},
)
class M2AD(BaseDetector):
    """Per-sensor LSTM forecasting residuals -> Gaussian-mixture p-values -> Fisher -> Gamma calibration.

    Args:
        window: input steps of the forecaster.
        hidden_size, n_layers: LSTM size (2 layers as in M2AD).
        error_types: residual features: ``"point"``, ``"area"`` or ``"both"``.
        smooth_window: moving-average length of the point error; area_window: length of the rolling areas.
        n_components: Gaussian components per sensor and error type.
        sensor_weights: (n_channels,) Fisher weights of the sensors (None: all 1).
        system_weights: (n_systems,) Fisher weights of the systems (None: all 1).
        system_sizes: channels of each system, in column order (None: one system). ``fit_systems`` sets it.
        p_value: calibrated p-value under which ``anomaly_intervals`` flags steps.
        score: ``"log10p"`` (-log10 calibrated p-value) or ``"fisher"`` (the Fisher statistic).
        train_stride, max_train_windows: training windows (evenly spread when capped).
        epochs, batch_size, lr, patience, time_budget: fit-loop settings (``training.fit_loop``).
        score_batch_size: windows per forecasting batch when scoring.
        contamination, threshold: threshold rule; ``threshold="gamma"`` agrees with the built-in calibration.
        random_state: seed.
    """

    tags: ClassVar[Tags] = Tags(min_length=2, uses_torch=True, channel_scores=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **{name: [Interval(int, 1, None)] for name in (
            "window", "hidden_size", "n_layers", "smooth_window", "area_window", "n_components", "train_stride",
            "max_train_windows", "epochs", "batch_size", "score_batch_size")},
        "error_types": [Options(("point", "area", "both"))],
        "sensor_weights": [None, list, tuple, np.ndarray],
        "system_weights": [None, list, tuple, np.ndarray],
        "system_sizes": [None, list, tuple],
        "p_value": [Interval(float, 0.0, 1.0, "neither")],
        "score": [Options(("log10p", "fisher"))],
        **training_constraints("lr", "patience", "time_budget"),
        "random_state": RANDOM_STATE,
    }  # fmt: skip

    def __init__(
        self,
        window: int = 100,
        hidden_size: int = 32,
        n_layers: int = 2,
        error_types: str = "both",
        smooth_window: int = 10,
        area_window: int = 10,
        n_components: int = 1,
        sensor_weights: list[float] | None = None,
        system_weights: list[float] | None = None,
        system_sizes: list[int] | None = None,
        p_value: float = 0.001,
        score: str = "log10p",
        train_stride: int = 1,
        max_train_windows: int = 5000,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        patience: int = 5,
        time_budget: float | None = 120.0,
        score_batch_size: int = 512,
        contamination: float = 0.01,
        threshold: Any = None,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.error_types = error_types
        self.smooth_window = smooth_window
        self.area_window = area_window
        self.n_components = n_components
        self.sensor_weights = sensor_weights
        self.system_weights = system_weights
        self.system_sizes = system_sizes
        self.p_value = p_value
        self.score = score
        self.train_stride = train_stride
        self.max_train_windows = max_train_windows
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.time_budget = time_budget
        self.score_batch_size = score_batch_size
        self.contamination = contamination
        self.threshold = threshold
        self.random_state = random_state

    def min_series_length(self) -> int:
        return int(self.window) + 1

    def _stream_context(self) -> tuple[int, int]:
        """A step's residual comes from the ``window`` rows before it, and its features smooth residuals over a
        centred moving window (``uniform_filter1d``: ``m // 2`` steps before, ``m - 1 - m // 2`` after)."""
        sizes = [max(int(m), 1) for m in (self.smooth_window, self.area_window)]
        return int(self.window) + max(m // 2 for m in sizes), max(m - 1 - m // 2 for m in sizes)

    def context_steps(self) -> int:
        return int(self.window) + 1 + max(int(self.smooth_window), int(self.area_window))

    def channel_baseline(self) -> np.ndarray:
        return self.mean_

    # ------------------------------------------------------------------------------------ structure
    def _layout(self, n_channels: int) -> list[int]:
        sizes = list(self.system_sizes) if self.system_sizes is not None else [n_channels]
        if any(int(s) < 1 for s in sizes) or sum(sizes) != n_channels:
            raise ValueError(
                f"system_sizes {sizes} must be positive and add up to the {n_channels} channels of X; "
                "use fit_systems(list_of_series) to set them from the systems"
            )
        return [int(s) for s in sizes]

    def _feature_weights(self) -> np.ndarray:
        sizes, C = self.system_sizes_, sum(self.system_sizes_)
        sensor = np.ones(C) if self.sensor_weights is None else np.asarray(self.sensor_weights, dtype=np.float64)
        system = np.ones(len(sizes)) if self.system_weights is None else np.asarray(self.system_weights, float)
        if sensor.shape != (C,) or system.shape != (len(sizes),):
            raise ValueError(
                f"sensor_weights needs {C} values and system_weights {len(sizes)}; "
                f"got {sensor.shape[0]} and {system.shape[0]}"
            )
        if (sensor < 0).any() or (system < 0).any() or not (sensor * np.repeat(system, sizes)).any():
            raise ValueError("weights must be >= 0 with at least one positive")
        per_channel = sensor * np.repeat(system, sizes)
        return np.tile(per_channel, len(self._error_kinds()))

    def _error_kinds(self) -> tuple[str, ...]:
        return ("point", "area") if self.error_types == "both" else (self.error_types,)

    def _build_modules(self) -> None:
        self.model_ = nn.ModuleList(
            [LSTMForecaster(size, self.hidden_size, self.n_layers) for size in self.system_sizes_]
        )
        self.model_.eval()

    # ------------------------------------------------------------------------------------ forecasting
    def _forecast(self, Z: np.ndarray) -> np.ndarray:
        """Forecast every step from the previous ``window`` (standardised), (n, C); head steps = observed."""
        view, _ = sliding_windows(Z[:-1], self.window, 1)  # window i ends at step i + window - 1
        bounds = np.cumsum([0, *self.system_sizes_])
        model = self.model_

        def fn(batch: torch.Tensor) -> torch.Tensor:
            return torch.cat([m(batch[:, :, a:b]) for m, a, b in zip(model, bounds[:-1], bounds[1:], strict=True)], 1)

        with torch_threads():
            model.eval()
            pred = predict_batched(fn, view, self.score_batch_size).astype(np.float64)
        out = Z.copy()
        out[self.window :] = pred
        return out

    def _features(self, X: np.ndarray) -> np.ndarray:
        Z = standardise(X, self.mean_, self.std_)
        raw = residual_features(Z, self._forecast(Z), self._error_kinds(), self.smooth_window, self.area_window)
        return raw

    # ------------------------------------------------------------------------------------ fit
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        self.system_sizes_ = self._layout(X.shape[1])
        self.feature_weights_ = self._feature_weights()
        self.mean_, self.std_ = standardiser(X)
        Z = standardise(X, self.mean_, self.std_)
        targets = np.arange(self.window, X.shape[0], self.train_stride)  # forecast step t from the window before
        targets = targets[even_subsample(len(targets), self.max_train_windows)]
        rng = np.random.default_rng(self.random_state)
        Zt = torch.as_tensor(Z, dtype=torch.float32)
        offsets = torch.arange(-self.window, 0)
        bounds = np.cumsum([0, *self.system_sizes_])
        with torch_threads():
            seed_torch(self.random_state)
            self._build_modules()
            model = self.model_

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                t = torch.as_tensor(targets[idx])
                x = Zt[t[:, None] + offsets]  # (B, window, C)
                losses = [
                    nn.functional.mse_loss(m(x[:, :, a:b]), Zt[t, a:b])
                    for m, a, b in zip(model, bounds[:-1], bounds[1:], strict=True)
                ]
                return torch.stack(losses).mean()

            config = TrainConfig(
                epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
                time_budget=self.time_budget,
            )  # fmt: skip
            self._record_training("forecaster", fit_loop(model, len(targets), loss_fn, config, rng))
        # Calibration: every statistic below comes from the training series and is frozen.
        raw = self._features(X)
        self.residual_mean_, self.residual_std_ = standardiser(raw)
        feats = (raw - self.residual_mean_) / self.residual_std_
        self.gmm_weights_, self.gmm_means_, self.gmm_stds_ = fit_mixtures(feats, self.n_components, self.random_state)
        fisher = fisher_statistic(self._log_p(feats), self.feature_weights_)
        self.gamma_shape_, self.gamma_scale_ = fit_gamma(fisher)
        self.train_scores_ = self._from_fisher(fisher)

    # ------------------------------------------------------------------------------------ score
    def _log_p(self, feats: np.ndarray) -> np.ndarray:
        return mixture_log_sf(feats, self.gmm_weights_, self.gmm_means_, self.gmm_stds_)

    def _fisher(self, X: np.ndarray) -> np.ndarray:
        feats = (self._features(X) - self.residual_mean_) / self.residual_std_
        return fisher_statistic(self._log_p(feats), self.feature_weights_)

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        """Each sensor's term of the Fisher statistic, ``-2 sum_kinds w log p``, (n, C): they add up to S."""
        feats = (self._features(X) - self.residual_mean_) / self.residual_std_
        terms = -2.0 * self._log_p(feats) * self.feature_weights_  # (n, kinds * C), one kind's sensors side by side
        return terms.reshape(X.shape[0], len(self._error_kinds()), X.shape[1]).sum(axis=1)

    def _from_fisher(self, fisher: np.ndarray) -> np.ndarray:
        if self.score == "fisher":
            return fisher
        return -gamma_log_sf(fisher, self.gamma_shape_, self.gamma_scale_) / math.log(10.0)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._from_fisher(self._fisher(X))

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if isinstance(X, list | tuple):
            X = self._stack(X)
        X = check_series(X, min_length=self.min_series_length())
        check_channels(X, self.n_channels_in_, type(self).__name__)
        return X

    def p_values(self, X: Any) -> np.ndarray:
        """Calibrated anomaly p-value of every step, (n_timesteps,); X may be a list of systems."""
        X = self._validated(X)
        return np.exp(gamma_log_sf(self._fisher(X), self.gamma_shape_, self.gamma_scale_))

    def anomaly_intervals(self, X: Any, p_value: float | None = None) -> list[tuple[int, int]]:
        """Runs of steps whose calibrated p-value is below ``p_value`` (default: the parameter, 0.001).

        Returns:
            list of ``(start, end)`` with ``end`` exclusive.
        """
        X = self._validated(X)
        level = self.p_value if p_value is None else p_value
        log_p = gamma_log_sf(self._fisher(X), self.gamma_shape_, self.gamma_scale_)
        return intervals_from_mask(log_p < math.log(level))

    # ------------------------------------------------------------------------------------ systems
    @staticmethod
    def _stack(systems: list[Any] | tuple[Any, ...]) -> np.ndarray:
        series = [check_series(s, name=f"system {i}") for i, s in enumerate(systems)]
        if not series:
            raise ValueError("pass at least one system")
        lengths = {s.shape[0] for s in series}
        if len(lengths) != 1:
            raise ValueError(f"systems must be time-aligned (same length) to be scored together; got {sorted(lengths)}")
        return np.hstack(series)

    def fit_systems(self, systems: list[Any], y: Any = None) -> M2AD:
        """Fit on several time-aligned systems, each a (n_timesteps, n_channels_i) series; returns self.

        Sets ``system_sizes`` from the systems (one LSTM per system, one Fisher statistic over all).
        """
        sizes = [check_series(s, name=f"system {i}").shape[1] for i, s in enumerate(systems)]
        self.set_params(system_sizes=sizes)
        return self.fit(self._stack(systems), y)

    def score_systems(self, systems: list[Any]) -> np.ndarray:
        """Score time-aligned systems together (same order and channels as in ``fit_systems``), (n,)."""
        X = self._stack(systems)
        return self.anomaly_score(X)
