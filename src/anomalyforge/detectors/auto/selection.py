"""The pieces ``auto`` decides with: candidate (detector, window) grid, a labelled validation series forged
in a held-out stretch of the training series, and the surrogate score that ranks candidates on it.

Everything here reads the training series only: the period comes from its autocorrelation, the validation
labels are the exact masks of anomalies forged by generators (``GeneratedAnomalies.step_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from anomalyforge.core.base import BaseDetector, BaseGenerator
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import DETECTORS
from anomalyforge.generators.build import build_negative_generator
from anomalyforge.metrics import aupr, estimate_sliding_window, vus_pr

__all__ = [
    "Candidate",
    "HoldoutPlan",
    "holdout_plan",
    "ValidationSeries",
    "candidate_windows",
    "candidate_grid",
    "make_candidate",
    "forge_validation",
    "surrogate_score",
    "fit_model_only",
]

#: cheapest first: under a time budget the expensive candidates are the ones left out
_COST_ORDER = ("zscore", "iforest", "pca", "elliptic", "knn", "lof", "ocsvm")
#: detectors whose fit is cubic in the window's feature count (robust covariance): small windows only
_SMALL_FEATURES_ONLY = {"elliptic": 100}


@dataclass(frozen=True)
class Candidate:
    """One (detector, window) pair; ``window`` 0 means a detector without a window (``zscore``)."""

    detector: str
    window: int

    @property
    def label(self) -> str:
        return self.detector if self.window == 0 else f"{self.detector}@{self.window}"


@dataclass
class ValidationSeries:
    """A held-out stretch of the training series with forged anomalies.

    Attributes:
        series: (n, C) the stretch with anomalies pasted in.
        labels: (n,) int8, 1 exactly at the steps a generator changed (any channel).
        null: (n,) bool, steps farther than ``margin`` from every forged step (normal reference for calibration).
        generators: (n_anomalies,) the registry name of the generator of each anomaly.
    """

    series: np.ndarray
    labels: np.ndarray
    null: np.ndarray
    generators: list[str]


def candidate_windows(
    X: np.ndarray, max_window_features: int, max_window: int, factors: tuple[float, ...] = (0.5, 1.0, 2.0)
) -> tuple[int, list[int]]:
    """The training series' period and the window lengths tried: 1 (point-wise) and ``factors`` x the period.

    (period / 2 was tried too: on the dev series it lost to the period for knn, lof, iforest and ocsvm, and
    longer windows than the period won there.)

    Windows are kept between 4 and ``max_window`` steps and, for several channels, at most
    ``max_window_features`` features (window x channels); duplicates are merged.

    Returns:
        ``(period, windows)`` with windows ascending.
    """
    period = int(estimate_sliding_window(X))
    C = X.shape[1]
    cap = max(4, min(max_window, max_window_features // C if C > 1 else max_window))
    windows = {1}
    for factor in factors:
        windows.add(int(min(max(int(factor * period), 4), cap)))
    return period, sorted(windows)


@dataclass
class HoldoutPlan:
    """How ``auto`` splits a training series: fit part, held-out stretch, period, windows, forged length."""

    X_fit: np.ndarray
    X_val: np.ndarray
    period: int
    windows: list[int]
    length: int


def holdout_plan(
    X: np.ndarray,
    holdout: float,
    max_validation_steps: int,
    max_window_features: int,
    factors: tuple[float, ...] = (0.5, 1.0, 2.0),
) -> HoldoutPlan:
    """The last ``holdout`` share of X (at most ``max_validation_steps``) held out; windows at most a quarter of
    the shorter part; forged anomalies one period long (8 .. a sixth of the stretch).

    Raises:
        ValueError: X too short to hold out a stretch of 48 steps.
    """
    n = X.shape[0]
    n_val = int(min(max_validation_steps, round(holdout * n)))
    if n_val < 48 or n - n_val < 16:
        raise ValueError(
            f"auto needs a training series long enough to hold out {holdout:.0%} of it as at least 48 time steps; "
            f"got {n} time steps. Choose a detector by name (e.g. --detector knn) for shorter series"
        )
    X_fit, X_val = X[: n - n_val], X[n - n_val :]
    cap = max(4, min(1000, min(len(X_fit), n_val) // 4))
    period, windows = candidate_windows(X, max_window_features, max_window=cap, factors=factors)
    return HoldoutPlan(X_fit, X_val, period, windows, int(np.clip(period, 8, max(8, n_val // 6))))


def candidate_grid(detectors: tuple[str, ...], windows: list[int], n_channels: int) -> list[Candidate]:
    """Every (detector, window) pair allowed, cheapest detectors first, then shorter windows first."""
    order = {name: i for i, name in enumerate(_COST_ORDER)}
    out = []
    for name in sorted(detectors, key=lambda d: order.get(d, len(order))):
        if name == "zscore":
            out.append(Candidate(name, 0))
            continue
        limit = _SMALL_FEATURES_ONLY.get(name)
        out.extend(Candidate(name, w) for w in windows if limit is None or w * n_channels <= limit)
    return out


def make_candidate(candidate: Candidate, n_channels: int, max_train_windows: int, random_state: int | None) -> Any:
    """An unfitted detector for ``candidate``: long windows scored every window/10 steps (bounded cost).

    The point-wise isolation forest on several channels is TSB-AD's (25 trees, 80 % of the features); the
    windowed one has 50 trees (half the default: its fit was most of the selection's time).
    """
    params = DETECTORS.make(candidate.detector).get_params(deep=False)
    chosen: dict[str, Any] = {}
    if candidate.window:
        chosen.update(window=candidate.window, score_stride=max(1, candidate.window // 10),
                      max_train_windows=max_train_windows)  # fmt: skip
    if candidate.detector == "iforest":  # 100 trees cost most of the selection; 50 on windows
        chosen.update(n_estimators=25, max_features=0.8) if candidate.window == 1 and n_channels > 1 else \
            chosen.update(n_estimators=50)
    if "random_state" in params:
        chosen["random_state"] = random_state
    return DETECTORS.make(candidate.detector, **chosen)


def _anomaly_layout(n: int, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Starts of windows of ``lengths`` steps, one at random inside each of as many equal slots."""
    slot = n // len(lengths)
    starts = []
    for i, length in enumerate(lengths):
        lo, hi = i * slot + slot // 8, (i + 1) * slot - int(length) - slot // 8
        starts.append(int(rng.integers(lo, max(lo, hi) + 1)))
    return np.asarray(starts, dtype=np.int64)


def forge_validation(
    X_fit: np.ndarray,
    X_val: np.ndarray,
    generators: tuple[str, ...],
    length: int,
    margin: int,
    budget: Budget,
    rng: np.random.Generator,
    random_state: int | None,
    max_share: float = 0.1,
    max_anomalies: int = 40,
) -> ValidationSeries:
    """Paste anomalies forged by ``generators`` (taken in turn) into ``X_val``.

    One anomaly window per slot of about ``length / max_share`` steps (2 .. ``max_anomalies`` of them),
    ``length`` / 2 to 2 ``length`` steps long (generators that learn, GenIAS, are fitted on ``X_fit`` with a
    window of ``length`` and forge that length). A batch-mixing generator
    (CutAddPaste, NCAD) takes its donors from other windows of ``X_val``.

    Args:
        X_fit: (n_fit, C) the part of the training series the candidates are fitted on.
        X_val: (n_val, C) the held-out stretch.
        generators: generator registry names.
        length: anomaly window length (the changed cells are a part of it, as the generator decides).
        margin: steps kept clear around forged steps when marking the normal reference ``null``.
        budget: shared with learnt generators.
        rng: draws of layout and forgeries.
        random_state: seed of learnt generators.
        max_share: at most about this share of the stretch lies in anomaly windows.

    Returns:
        a ``ValidationSeries`` whose labels are the generators' exact masks.
    """
    n = X_val.shape[0]
    n_anomalies = int(np.clip(n * max_share // length, 2, max_anomalies))
    order = [generators[i % len(generators)] for i in rng.permutation(n_anomalies)]
    fitted: dict[str, BaseGenerator] = {}
    for name in dict.fromkeys(order):
        gen = build_negative_generator(name, budget.share(0.5), window=length, random_state=random_state)
        fitted[name] = gen.fit(X_fit) if gen.tags.requires_training else gen
    # rule and mixing generators take any window: lengths from half to twice the period (at most half a slot)
    longest = max(length, min(2 * length, n // n_anomalies // 2))
    lengths = np.array([length if fitted[g].tags.requires_training else
                        int(rng.integers(max(8, length // 2), longest + 1)) for g in order])  # fmt: skip
    starts = _anomaly_layout(n, lengths, rng)
    out, changed = X_val.copy(), np.zeros(n, dtype=bool)
    for start, name, length in zip(starts, order, lengths, strict=True):
        donors = rng.integers(0, n - length + 1, size=7)
        batch = np.stack([X_val[s : s + length] for s in (start, *donors)])
        made = fitted[name].generate(batch, 1, rng)
        out[start : start + length] = made.patched[0]
        changed[start : start + length] |= made.step_mask[0]
    near = np.convolve(changed.astype(float), np.ones(2 * margin + 1), mode="same") > 0
    null = ~near if (~near).sum() >= 20 else ~changed
    return ValidationSeries(out, changed.astype(np.int8), null, order)


def surrogate_score(kind: str, labels: np.ndarray, scores: np.ndarray, period: int) -> float:
    """``vus_pr`` (buffer = the training period, as the benchmark's own buffer is the test period) or ``aupr``."""
    if kind == "aupr":
        return float(aupr(labels, scores))
    return float(vus_pr(labels, scores, sliding_window=max(1, min(period, 400))))


def fit_model_only(det: BaseDetector, X: np.ndarray) -> BaseDetector:
    """Fit ``det``'s model on a validated (n, C) float64 series without scoring it for a threshold.

    ``BaseDetector.fit`` also scores the whole training series to set ``threshold_``; a candidate or a member
    of ``auto`` needs no threshold of its own (``auto`` has one), so that scoring pass is skipped.
    """
    det._validate_params()
    det._fit(X, None)
    det.n_channels_in_ = X.shape[1]
    return det
