"""Classic detectors on sliding windows, via scikit-learn, plus a per-step z-score baseline.

Each window of ``window`` steps (all channels, standardised with the training mean and standard
deviation) is one feature vector. The shared window pipeline (``core.windows``, through
``WindowDetector``) trains on at most ``max_train_windows`` windows evenly spread over the training
series, scores every ``score_stride`` steps in batches of a zero-copy window view and maps window scores to
steps with ``how``; each class here only fits and applies its scikit-learn model to window vectors.

Defaults follow ../shared/papers/normalizing_flow_anomaly_detection.txt where it gives them: isolation
forest with 100 trees and contamination 0.05, one-class SVM with an RBF kernel, gamma 0.1, nu 0.05, and
elliptic envelope with contamination 0.05. Constant channels are kept: their standard deviation is
taken as 1, so they add nothing to the distance but never divide by zero.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.covariance import EllipticEnvelope
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM

from anomalyforge.core.base import RANDOM_STATE, BaseDetector, Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval, Options
from anomalyforge.core.windows import WindowDetector, WindowGather, WindowSpec, standardiser

__all__ = [
    "WindowSklearnDetector",
    "WindowIForest",
    "WindowOCSVM",
    "WindowLOF",
    "WindowEllipticEnvelope",
    "WindowPCA",
    "WindowKNN",
    "ZScore",
]

_SMALL = {"window": 8, "max_train_windows": 300}


class WindowSklearnDetector(WindowDetector):
    """Shared machinery: a scikit-learn model fitted on, and applied to, flattened window vectors.

    Parameters owned here (every subclass takes them): ``window``, ``max_train_windows``, ``score_stride``,
    ``how`` (``"max"``, ``"mean"``, ``"min"`` or ``"last"``) and ``batch_size`` (windows per scoring batch).
    """

    tags: ClassVar[Tags] = Tags(min_length=2)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 1, None)],
        "max_train_windows": [Interval(int, 2, None)],
        "score_stride": [Interval(int, 1, None)],
        "how": [Options(("max", "mean", "min", "last"))],
        "batch_size": [Interval(int, 1, None)],
    }
    window: int
    max_train_windows: int
    score_stride: int
    how: str
    batch_size: int

    def _make_model(self, shape: tuple[int, int]) -> Any:
        """The unfitted sklearn model for training windows of ``shape`` (n_windows, window * n_channels)."""
        raise NotImplementedError

    def _window_scores(self, features: np.ndarray) -> np.ndarray:
        """Higher = more anomalous, one per row of (n_windows, window * n_channels)."""
        return -self.model_.score_samples(features)

    def _window_spec(self) -> WindowSpec:
        return WindowSpec(
            window=self.window,
            score_stride=self.score_stride,
            how=self.how,
            max_train_windows=self.max_train_windows,
            batch_size=self.batch_size,
        )

    #: fit the model on the window features that vary over the training windows only (``varying_``), for
    #: models to which a feature constant in training adds nothing but cost (see ``_fit_windows``)
    _drop_constant_features: ClassVar[bool] = False

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        flat = windows.flat()
        self.varying_ = None
        if self._drop_constant_features:
            # a (lag, channel) feature with one value over all training windows (MSL: 36-44 of the 55 channels,
            # command flags never set in training) is a zero row and column of every covariance the model
            # computes; leaving it out keeps the fit the same and its cost cubic in the varying features only
            varying = np.ptp(flat, axis=0) > 0
            self.varying_ = varying if 0 < varying.sum() < len(varying) else None
            if self.varying_ is not None:
                self.constant_values_ = flat[0, ~varying].astype(np.float64)
                flat = flat[:, varying]
        self.model_ = self._make_model(flat.shape)
        self.model_.fit(flat)
        self._record_training("model", {"stopped_by": "fitted (one pass, no epochs)", "epochs_run": None})

    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        return self._window_scores(batch.reshape(len(batch), -1))


@DETECTORS.register("iforest", test_params=_SMALL)
class WindowIForest(WindowSklearnDetector):
    """Isolation forest on sliding windows (100 trees, contamination 0.05).

    ``max_features`` is the share of window features each tree draws (scikit-learn's; 1.0 = all).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(int, 1, None)],
        "max_features": [Interval(float, 0.0, 1.0, "right")],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        window: int = 50,
        n_estimators: int = 100,
        max_features: float = 1.0,
        contamination: float = 0.05,
        max_train_windows: int = 5000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold
        self.random_state = random_state

    def _make_model(self, shape: tuple[int, int]) -> IsolationForest:
        return IsolationForest(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            contamination=self.contamination,
            random_state=self.random_state,
            n_jobs=1,
        )


@DETECTORS.register("ocsvm", test_params=_SMALL)
class WindowOCSVM(WindowSklearnDetector):
    """One-class SVM (RBF kernel, gamma 0.1, nu 0.05) on sliding windows."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "gamma": [Interval(float, 0.0, None, "neither"), Options(("scale", "auto"))],
        "nu": [Interval(float, 0.0, 1.0, "right")],
    }

    def __init__(
        self,
        window: int = 50,
        gamma: float | str = 0.1,
        nu: float = 0.05,
        contamination: float = 0.05,
        max_train_windows: int = 2000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
    ) -> None:
        self.window = window
        self.gamma = gamma
        self.nu = nu
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold

    def _make_model(self, shape: tuple[int, int]) -> OneClassSVM:
        # gamma 0.1 was set for per-feature standardised vectors; scale by the window's dimension so the
        # kernel keeps the same width whatever the window length and channel count ("scale" is sklearn's).
        gamma = self.gamma
        if isinstance(gamma, int | float):
            gamma = float(gamma) / (self.window * self.n_features_in_channels_)
        return OneClassSVM(kernel="rbf", gamma=gamma, nu=self.nu)

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        self.n_features_in_channels_ = Z.shape[1]
        super()._fit_windows(windows, Z)


@DETECTORS.register("lof", test_params=_SMALL)
class WindowLOF(WindowSklearnDetector):
    """Local outlier factor (novelty mode) on sliding windows."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"n_neighbors": [Interval(int, 1, None)]}

    def __init__(
        self,
        window: int = 50,
        n_neighbors: int = 20,
        contamination: float = 0.05,
        max_train_windows: int = 2000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
    ) -> None:
        self.window = window
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold

    def _make_model(self, shape: tuple[int, int]) -> LocalOutlierFactor:
        return LocalOutlierFactor(n_neighbors=self.n_neighbors, novelty=True, contamination=self.contamination,
                                  algorithm="brute")  # see WindowKNN: trees count their queries in their state


@DETECTORS.register("elliptic", test_params=_SMALL)
class WindowEllipticEnvelope(WindowSklearnDetector):
    """Elliptic envelope (robust covariance, contamination 0.05) on sliding windows.

    The robust (minimum covariance determinant) fit fails when most windows are identical, as on a
    series that is flat most of the time: the support's covariance is then zero. The detector then
    falls back to the empirical covariance of all training windows plus a ridge of ``ridge`` times the
    identity (features are standardised, so 1e-3 is small beside unit variance), and records it in
    ``support_fallback_``. The robust fit's Mahalanobis distance uses a pseudo-inverse, so a singular
    covariance (lagged copies of one channel are strongly correlated) is handled there too.

    The robust fit sees only the window features that vary over the training windows (``varying_``): a
    feature constant in training (MSL: 36-44 of the 55 channels are command flags never set in its
    training part) made every candidate covariance singular, so the MCD compared determinants of singular
    matrices, and cost 12x the seconds on MSL M-6 (119 s against 10 s). Such a feature is in the pseudo-
    inverse's null space either way: it adds nothing to the distance, before and after.
    """

    _drop_constant_features: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "support_fraction": [None, Interval(float, 0.0, 1.0, "right")],
        "ridge": [Interval(float, 0.0, None)],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        window: int = 5,
        contamination: float = 0.05,
        support_fraction: float | None = None,
        ridge: float = 1e-3,
        max_train_windows: int = 2000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.contamination = contamination
        self.support_fraction = support_fraction
        self.ridge = ridge
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold
        self.random_state = random_state

    def _make_model(self, shape: tuple[int, int]) -> EllipticEnvelope:
        return EllipticEnvelope(
            contamination=self.contamination, support_fraction=self.support_fraction, random_state=self.random_state
        )

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        self.support_fallback_ = False
        try:
            with warnings.catch_warnings():
                # lagged copies of a channel make the covariance singular; mahalanobis uses a pseudo-inverse
                warnings.filterwarnings("ignore", message="The covariance matrix .* is not full rank")
                super()._fit_windows(windows, Z)
        except ValueError as exc:
            if "covariance matrix of the support data is equal to 0" not in str(exc):
                raise
            self.support_fallback_ = True
            self.varying_ = None  # the fallback's ridge weighs every feature, constant ones too
            self.__dict__.pop("constant_values_", None)
            features = windows.flat()
            self.location_ = features.mean(axis=0)
            cov = np.atleast_2d(np.cov(features, rowvar=False)) + self.ridge * np.eye(features.shape[1])
            self.precision_ = np.linalg.inv(cov)
            del self.model_

    def _window_scores(self, features: np.ndarray) -> np.ndarray:
        if self.support_fallback_:
            centred = features - self.location_
            return np.einsum("ij,jk,ik->i", centred, self.precision_, centred)
        if self.varying_ is not None:  # constant training features are the pseudo-inverse's null space: weight 0
            features = features[:, self.varying_]
        return self.model_.mahalanobis(features)


@DETECTORS.register("pca", test_params=_SMALL)
class WindowPCA(WindowSklearnDetector):
    """PCA reconstruction error of sliding windows.

    The components are fitted on the window features that vary over the training windows (``varying_``);
    a feature constant in training is reconstructed as its training value, which is what the full PCA
    does, so scores equal the full fit's (to 1e-15 on MSL C-1 and M-6) at a ninth to a twelfth of the
    seconds there (fit + score, C-1 56 s against 4.5 s): the eigen-decomposition is cubic in the features.
    """

    tags: ClassVar[Tags] = Tags(min_length=2, channel_scores=True)
    _drop_constant_features: ClassVar[bool] = True

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(int, 1, None), Interval(float, 0.0, 1.0, "neither")],
    }

    def __init__(
        self,
        window: int = 50,
        n_components: float | int = 0.95,
        contamination: float = 0.05,
        max_train_windows: int = 3000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
    ) -> None:
        self.window = window
        self.n_components = n_components
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold

    def _make_model(self, shape: tuple[int, int]) -> PCA:
        # the eigen-decomposition of the covariance gives the same components as the full SVD (window errors
        # equal to 1e-13) in less time while the features are not far more than the windows, on one thread:
        # 3000 windows of 50 x 2750 features 16-20 s against 33-39 s; MSL C-1's 2109 windows of 2750 features
        # 9-11 s against 12-14 s; a univariate series (50 features) fits in half the time. Far wider windows
        # than there are of them make the covariance the larger problem, so the SVD is kept there.
        n_samples, n_features = shape
        solver = "covariance_eigh" if n_features <= 1.5 * n_samples else "full"
        n_components = self.n_components
        if isinstance(n_components, int | np.integer) and not isinstance(n_components, bool):
            n_components = min(int(n_components), n_samples, n_features)  # constant features were left out
        return PCA(n_components=n_components, svd_solver=solver)

    def _squared_errors(self, features: np.ndarray) -> np.ndarray:
        """(b, F) window features -> (b, F) squared reconstruction errors. A feature constant in training is
        no part of any component, so its reconstruction is its training value (what the full PCA gives)."""
        if self.varying_ is None:
            return (features - self.model_.inverse_transform(self.model_.transform(features))) ** 2
        varying = features[:, self.varying_]
        errors = np.empty(features.shape, dtype=np.float64)
        errors[:, self.varying_] = (varying - self.model_.inverse_transform(self.model_.transform(varying))) ** 2
        errors[:, ~self.varying_] = (features[:, ~self.varying_] - self.constant_values_) ** 2
        return errors

    def _window_scores(self, features: np.ndarray) -> np.ndarray:
        return np.mean(self._squared_errors(features), axis=1)

    def _channel_errors(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) windows -> (b, C) squared reconstruction error per channel (mean over the window)."""
        return self._squared_errors(batch.reshape(len(batch), -1)).reshape(batch.shape).mean(axis=1)

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        return self._channel_steps(self._channel_errors, X)


@DETECTORS.register("knn", test_params=_SMALL)
class WindowKNN(WindowSklearnDetector):
    """Distance to the k-th nearest training window."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"n_neighbors": [Interval(int, 1, None)]}

    def __init__(
        self,
        window: int = 50,
        n_neighbors: int = 5,
        contamination: float = 0.05,
        max_train_windows: int = 2000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 4096,
        threshold: Any = None,
    ) -> None:
        self.window = window
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold

    def _make_model(self, shape: tuple[int, int]) -> NearestNeighbors:
        # brute force: the same neighbours as a tree, and a tree (chosen by scikit-learn for <= 15 features, e.g.
        # window 1) counts its queries in its state, so scoring would change the fitted model
        return NearestNeighbors(n_neighbors=self.n_neighbors, algorithm="brute")

    def _window_scores(self, features: np.ndarray) -> np.ndarray:
        k = min(self.n_neighbors, self.model_.n_samples_fit_)
        dist, _ = self.model_.kneighbors(features, n_neighbors=k)
        return dist[:, -1]


@DETECTORS.register("zscore")
class ZScore(BaseDetector):
    """Largest absolute per-channel z-score of each step against the training mean and deviation."""

    tags: ClassVar[Tags] = Tags(min_length=2, requires_training=False, step_local=True, channel_scores=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, contamination: float = 0.01, threshold: Any = None) -> None:
        self.contamination = contamination
        self.threshold = threshold

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        self.mean_, self.std_ = standardiser(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._channel_scores(X).max(axis=1)

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        return np.abs((X - self.mean_) / self.std_)

    def context_steps(self) -> int:
        return 0

    def channel_baseline(self) -> np.ndarray:
        return self.mean_
