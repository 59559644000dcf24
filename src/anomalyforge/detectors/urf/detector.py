"""Unsupervised random forest similarity (URF) on sliding windows.

A random forest (scikit-learn) learns to tell the real training windows from as many synthetic samples
drawn uniformly within the per-feature minimum and maximum of the real ones (``forest.uniform_synthetic``).
Its proximity, the share of trees in which two samples fall in the same leaf, gives the distance
``1 - proximity``; a window's score is its mean proximity distance to a fixed reference set of
``n_reference`` real training windows, evenly spread (``score="mean"``, default), or to its ``n_neighbors``
nearest references (``score="knn"``). The mean needs only how many references pass through each node
(``forest.mean_proximity``: ``n_trees`` look-ups per window); the kNN compares leaves with a sparse product
per batch (``forest.proximity``), about ``n_reference`` times slower. Memory is bounded by ``batch_size``
windows (times ``n_reference`` for the kNN) whatever the series length.

The forest sees six statistics per channel of the standardised window (``features="summary"``, default,
``features.SUMMARY_STATISTICS``) or the raw window (``features="raw"``). The defaults were chosen on the
dev suite's UCR series (mean VUS-PR over the first 15: summary + mean 0.216, summary + kNN 0.208, raw + kNN
0.207, raw + mean 0.135; summary + mean also the fastest).

``margin`` widens the synthetic samples' bounds by that share of each feature's range on both sides (0,
default, is the published method). With the data's own bounds, a window beyond the training range falls
in the same leaves as the most extreme training windows (a split threshold lies between two samples, and
nothing lies beyond the extremes), so a far out-of-range window scores like a rare but normal one; a
margin puts synthetic samples there. On the 5-channel sines of ``bench/bench_long_series.py`` (20k steps,
forged +3 shifts) AUPR rises from 0.105 to 0.186 (0.1) and 0.206 (0.5); it was not tried on the dev suite.

Missing values: the detector's tags allow NaN. The standardisation ignores missing values, the forest
(scikit-learn's ``RandomForestClassifier``, which learns at each split which side missing values go to)
takes NaN in fitting and in prediction, and the synthetic samples are missing in each feature as often as
the real ones, so missingness alone never looks real. Infinite values are still refused.

Explanations: ``channel_scores(X)`` splits each window's score over channels. For a window and one of the
references its score averages over, each tree that separates the two contributes ``1 / n_trees`` to the
feature of the split that sends them apart (their leaves' lowest common ancestor); those shares add up
to the proximity distance exactly, so a window's per-channel contributions add up to its score. Per step
each channel's window contributions are mapped with the detector's ``how`` (with ``"mean"`` or
``"last"`` the row of a step sums to its ``anomaly_score``).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from anomalyforge.core.base import RANDOM_STATE, Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval, Options, check_is_fitted
from anomalyforge.core.windows import (
    WindowGather,
    check_how,
    even_subsample,
    training_windows,
    window_scores,
    windows_to_steps,
)
from anomalyforge.detectors.classic import WindowSklearnDetector
from anomalyforge.detectors.urf.features import FEATURE_SETS, feature_channels, window_features
from anomalyforge.detectors.urf.forest import (
    ForestLayout,
    divergence_features,
    forest_layout,
    leaf_codes,
    mean_proximity,
    proximity,
    separating_splits,
    subtree_counts,
    uniform_synthetic,
)

__all__ = ["UnsupervisedRandomForest"]

_SMALL = {"window": 8, "max_train_windows": 300, "n_estimators": 20, "n_reference": 100}


def _nan_standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std ignoring NaN; constant or entirely missing channels get mean 0 / std 1."""
    if not np.isnan(X).any():
        mean, std = X.mean(axis=0), X.std(axis=0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # entirely missing channels give NaN here
            mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        mean, std = np.nan_to_num(mean, nan=0.0), np.nan_to_num(std, nan=1.0)
    return mean, np.where(std > 1e-12, std, 1.0)


def _refuse_infinite(X: np.ndarray) -> None:
    if np.isinf(X).any():
        raise ValueError(
            f"X contains {int(np.isinf(X).sum())} infinite values; replace them (NaN is accepted as missing)"
        )


@DETECTORS.register("urf", test_params=_SMALL)
class UnsupervisedRandomForest(WindowSklearnDetector):
    """Unsupervised random forest (real vs uniform synthetic windows); proximity distance to reference windows."""

    tags: ClassVar[Tags] = Tags(min_length=2, allow_nan=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "features": [Options(FEATURE_SETS)],
        "n_estimators": [Interval(int, 1, None)],
        "margin": [Interval(float, 0.0, None)],
        "min_samples_leaf": [Interval(int, 1, None)],
        "max_features": [Options(("sqrt", "log2")), Interval(float, 0.0, 1.0, "right")],
        "n_reference": [Interval(int, 1, None)],
        "n_neighbors": [Interval(int, 1, None)],
        "score": [Options(("knn", "mean"))],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        window: int = 50,
        features: str = "summary",
        n_estimators: int = 100,
        margin: float = 0.0,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        n_reference: int = 1000,
        n_neighbors: int = 5,
        score: str = "mean",
        contamination: float = 0.05,
        max_train_windows: int = 2000,
        score_stride: int = 1,
        how: str = "max",
        batch_size: int = 1024,
        threshold: Any = None,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.features = features
        self.n_estimators = n_estimators
        self.margin = margin
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_reference = n_reference
        self.n_neighbors = n_neighbors
        self.score = score
        self.contamination = contamination
        self.max_train_windows = max_train_windows
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.threshold = threshold
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ fit
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        # the shared template's steps, with a standardisation that ignores missing values
        _refuse_infinite(X)
        spec = self._window_spec()
        check_how(spec.how, self.supported_how(), type(self).__name__)
        self.mean_, self.std_ = _nan_standardiser(X)
        Z = self._standardise(X)
        self._fit_windows(training_windows(Z, spec), Z)

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        real = window_features(windows.materialise(), self.features)
        synthetic = uniform_synthetic(real, len(real), rng, self.margin)
        self.model_ = RandomForestClassifier(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=int(rng.integers(2**31 - 1)),
            n_jobs=1,
        )
        self.model_.fit(np.vstack([real, synthetic]), np.r_[np.ones(len(real)), np.zeros(len(synthetic))])
        layout = forest_layout(self.model_)
        self.node_offsets_, self.node_parent_ = layout.offsets, layout.parent
        self.node_depth_, self.node_feature_ = layout.depth, layout.feature
        reference = real[even_subsample(len(real), self.n_reference)]
        self.reference_codes_ = leaf_codes(self.model_, reference, layout.offsets)
        self.node_reference_count_ = subtree_counts(self.reference_codes_, layout)
        self.n_features_ = int(real.shape[1])
        self._record_training("model", {"stopped_by": "fitted (one pass, no epochs)", "epochs_run": None})

    # ---------------------------------------------------------------------------------------- score
    def _score(self, X: np.ndarray) -> np.ndarray:
        _refuse_infinite(X)
        return super()._score(X)

    def _layout(self) -> ForestLayout:
        return ForestLayout(self.node_offsets_, self.node_parent_, self.node_depth_, self.node_feature_)

    def _codes(self, batch: np.ndarray) -> np.ndarray:
        return leaf_codes(self.model_, window_features(batch, self.features), self.node_offsets_)

    def _n_neighbors(self) -> int:
        return min(self.n_neighbors, len(self.reference_codes_))

    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        codes = self._codes(batch)
        if self.score == "mean":
            return 1.0 - mean_proximity(codes, self.node_reference_count_, len(self.reference_codes_))
        prox = proximity(codes, self.reference_codes_, int(self.node_offsets_[-1]))
        k = self._n_neighbors()
        nearest = -np.partition(-prox, k - 1, axis=1)[:, :k]
        return 1.0 - nearest.mean(axis=1)

    # ----------------------------------------------------------------------------------- explanations
    def _window_channel_contributions(self, batch: np.ndarray) -> np.ndarray:
        """(b, window, C) windows -> (b, C) shares of each window's score per channel (rows sum to the score)."""
        n_channels = batch.shape[2]
        codes = self._codes(batch)
        channel_of = feature_channels(self.n_features_, n_channels)
        n_trees, n_ref = codes.shape[1], len(self.reference_codes_)
        if self.score == "mean":
            rows, features, separated = separating_splits(codes, self.node_reference_count_, self._layout())
            which = rows * n_channels + channel_of[features]
            shares = np.bincount(which, weights=separated, minlength=len(batch) * n_channels) / (n_trees * n_ref)
            return shares.reshape(len(batch), n_channels)
        out = np.zeros((len(batch), n_channels))
        k = self._n_neighbors()
        for lo in range(0, len(batch), 256):
            c = codes[lo : lo + 256]
            prox = proximity(c, self.reference_codes_, int(self.node_offsets_[-1]))
            refs = self.reference_codes_[np.argpartition(-prox, k - 1, axis=1)[:, :k]]  # (b, k, n_trees)
            split = divergence_features(np.broadcast_to(c[:, None, :], refs.shape), refs, self._layout())
            rows = np.nonzero(split >= 0)[0]
            which = rows * n_channels + channel_of[split[split >= 0]]
            out[lo : lo + len(c)] = np.bincount(which, minlength=len(c) * n_channels).reshape(len(c), -1) / (
                k * n_trees
            )
        return out

    def channel_scores(self, X: Any) -> np.ndarray:
        """Each step's score split over channels: which channels' values separate it from the reference.

        Args:
            X: series of shape (n_timesteps, n_channels) with the fitted channel count (NaN allowed).

        Returns:
            float64 array of shape (n_timesteps, n_channels), non-negative; each channel's window shares
            are mapped to steps with ``how`` (with ``how="mean"`` or ``"last"`` a row sums to the step's
            ``anomaly_score``).
        """
        check_is_fitted(self)
        X = self._checked_input(X)
        _refuse_infinite(X)
        spec = self._window_spec()
        shares, starts = window_scores(self._window_channel_contributions, self._standardise(X), spec)
        steps = [windows_to_steps(shares[:, c], starts, spec.window, X.shape[0], spec.how) for c in range(X.shape[1])]
        return np.column_stack(steps)
