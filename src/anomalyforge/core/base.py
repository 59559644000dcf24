"""Base classes: the detector and generator contracts (scikit-learn rules, PyOD scores, template methods).

A detector subclass writes ``__init__`` (stores keyword arguments, all defaulted), ``_fit`` and ``_score``;
validation, thresholds, prediction and persistence live here. A generator writes ``_generate`` (and
``_fit`` when it learns); the base computes the exact mask of changed cells and guarantees every requested
anomaly really changes its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator, clone

from anomalyforge.core.registry import DETECTORS, GENERATORS
from anomalyforge.core.thresholds import (
    BaseThreshold,
    ContaminationThreshold,
    exponential_tail_threshold,
    make_threshold,
)
from anomalyforge.core.validation import (
    Interval,
    check_channels,
    check_is_fitted,
    check_series,
    check_windows,
    validate_params,
)

#: Fewest held-out training scores ``fit`` calibrates a threshold on (fewer: in-sample).
MIN_HELD_OUT = 100

__all__ = ["Tags", "GeneratorTags", "BaseDetector", "BaseGenerator", "GeneratedAnomalies", "RANDOM_STATE"]

#: ``random_state`` of every model: a seed or None (None still gives a fixed default seed where noted).
RANDOM_STATE = [None, Interval(int, 0, None)]


@dataclass(frozen=True)
class Tags:
    """Capabilities of a detector, read by the common checks and the benchmark harness.

    Attributes:
        multivariate: accepts more than one channel.
        requires_training: ``fit`` learns from data (False: a per-series statistic).
        min_length: fewest time steps accepted when no ``window`` parameter says more.
        allow_nan: NaN values are handled by the detector itself.
        deterministic: the same ``random_state`` gives the same scores.
        uses_torch: has torch modules (saved as safetensors).
        step_local: the score of a step is a function of that step's row alone (no window, no series
            statistic), so ``core.stream.Stream`` scores each row as it arrives.
        channel_scores: ``channel_scores(X)`` gives the model's own per-channel decomposition of its score
            (otherwise ``core.attribution`` ranks channels by occlusion).
    """

    multivariate: bool = True
    requires_training: bool = True
    min_length: int = 2
    allow_nan: bool = False
    deterministic: bool = True
    uses_torch: bool = False
    step_local: bool = False
    channel_scores: bool = False


@dataclass(frozen=True)
class GeneratorTags:
    """Capabilities of an anomaly generator."""

    requires_training: bool = False
    multivariate: bool = True
    min_window: int = 4
    uses_torch: bool = False


def _declared_constraints(cls: type) -> dict[str, list[Any]]:
    """The ``_parameter_constraints`` of a class and its bases, the subclass's winning."""
    out: dict[str, list[Any]] = {}
    for klass in reversed(cls.__mro__):
        out.update(klass.__dict__.get("_parameter_constraints", {}))
    return out


class SaveLoadMixin:
    """``save`` / ``load`` for registered detectors and generators (see persistence.py), and the declared
    parameter checks both run before fitting."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def _validate_params(self) -> None:
        """Check every constructor parameter against the constraints declared by the class and its bases."""
        validate_params(type(self).__name__, self.get_params(deep=False), _declared_constraints(type(self)))

    def save(self, path: str | Path, *, metadata: dict[str, Any] | None = None, key: bytes | None = None) -> Path:
        """Write the model to one ``.safetensors`` file (JSON config + weights, never pickle), with optional
        JSON ``metadata``, signed when a ``key`` is given (see ``core.persistence.save_model``)."""
        from anomalyforge.core.persistence import save_model

        return save_model(self, path, metadata=metadata, key=key)

    @classmethod
    def load(cls, path: str | Path, *, key: bytes | None = None) -> Self:
        """Read a model written by ``save``; a tampered file or another version raises ``ValueError``, and with
        ``key`` so does an unsigned file or one signed with another key."""
        from anomalyforge.core.persistence import load_model

        obj = load_model(path, key=key)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj


class BaseDetector(SaveLoadMixin, BaseEstimator):
    """Base class of every detector.

    Public methods validate their input and call ``_fit(X, y)`` / ``_score(X)`` with a float64 array of
    shape (n_timesteps, n_channels). After ``fit`` the detector has ``n_channels_in_``, ``train_scores_``
    (scores of the training series, used for thresholds) and ``threshold_``.

    Every detector takes ``threshold`` (None, a float, ``"contamination"``, ``"gamma"`` or a threshold
    object) and ``contamination`` (a share in (0, 0.5)): together they decide ``threshold_``. Every
    constructor parameter is declared once in ``_parameter_constraints`` (here for these two, in the class
    that owns the others) and checked before ``_fit``.
    """

    tags: ClassVar[Tags] = Tags()
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "contamination": [Interval(float, 0.0, 0.5, "neither")],
        "threshold": [None, Interval(float), str, BaseThreshold],
    }
    threshold: Any
    contamination: float
    #: Why ``core.stream.Stream`` cannot reproduce this detector's batch scores (empty: it can, or the
    #: detector is windowed or step-local and the stream knows how); the stream's error quotes it.
    stream_limitation: ClassVar[str] = ""
    #: How ``fit`` calibrates ``threshold_`` on training steps the model scoring them was not fitted on:
    #: ``"refit"`` (out-of-fold: each of ``calibration_folds`` blocks is scored by a copy fitted on the other
    #: blocks, then the detector is fitted on the whole series; for detectors cheap and deterministic to
    #: fit), ``"head"`` (the detector itself is fitted on the head only and scores the held-out tail, the last
    #: ``calibration_share``; for trained models, whose scale another fit would not reproduce), ``"own"``
    #: (``_fit`` sets ``calibration_scores_`` itself) or ``"in-sample"``.
    #: None: ``"head"`` when ``tags.uses_torch``, else ``"refit"``.
    calibration_mode: ClassVar[str | None] = None
    #: Share of the training series held out at its end for threshold calibration (``"head"``).
    calibration_share: ClassVar[float] = 0.2
    #: Blocks of the training series for the out-of-fold scores of ``"refit"``.
    calibration_folds: ClassVar[int] = 5

    @property
    def registry_name(self) -> str | None:
        """The registered name this detector answers to (None if its class is not registered).

        Derived from the class and the current parameters, never stored, so ``clone``, ``set_params`` and
        save/load keep it: ``make_detector("genias_carla")`` and ``CARLA(generator="genias")`` both give
        ``"genias_carla"``.
        """
        return DETECTORS.name_of(self)

    # ----------------------------------------------------------------------------------------- hooks
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _build_modules(self) -> None:
        """Recreate torch modules (empty weights) from params and JSON fitted state, for ``load``."""

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        """(n, C) non-negative per-channel parts of the score; only with ``tags.channel_scores``."""
        raise NotImplementedError

    def min_series_length(self) -> int:
        """Fewest time steps ``fit`` and scoring accept (windowed detectors: at least one window)."""
        return self.tags.min_length

    def _stream_plan(self) -> Any:
        """A ``core.windows.StreamPlan`` when the scores are the window pipeline's (possibly combined with a
        per-row term), for ``core.stream.Stream``; None otherwise (the default)."""
        return None

    def _stream_members(self) -> tuple[list[BaseDetector], Any] | None:
        """``(members, combine)`` for a detector whose step score combines fitted member detectors' step scores:
        ``combine(list of (k,) member scores) -> (k,)``; ``core.stream.Stream`` streams each member. None (the
        default): not a combination."""
        return None

    def _stream_context(self) -> tuple[int, int] | None:
        """``(before, after)``: a step's score depends on at most ``before`` earlier and ``after`` later rows
        (with the series start as batch scoring sees it), so ``core.stream.Stream`` can rescore a bounded
        buffer; None (the default): not declared."""
        return None

    def context_steps(self) -> int:
        """Steps on either side of a step that its score depends on (attribution scores only that slice)."""
        return self.min_series_length()

    def channel_baseline(self) -> np.ndarray | None:
        """(C,) raw values that stand for an unremarkable channel (the training mean), used by channel
        occlusion; None when the detector keeps none (occlusion then uses the scored series' median)."""
        return None

    # ---------------------------------------------------------------------------------------- public
    def fit(self, X: Any, y: Any = None) -> BaseDetector:
        """Fit on a (mostly normal) training series of shape (n_timesteps, n_channels).

        Args:
            X: training series; 1-D input is one channel.
            y: optional 0/1 labels of the training series (ignored by unsupervised detectors).

        Returns:
            self.
        """
        self._validate_params()
        X = check_series(X, min_length=self.min_series_length(), allow_nan=self.tags.allow_nan)
        if X.shape[1] > 1 and not self.tags.multivariate:
            raise ValueError(
                f"{type(self).__name__} handles one channel, X has {X.shape[1]}; "
                "fit one detector per channel or choose a multivariate detector"
            )
        if y is not None:
            y = np.asarray(y).ravel()
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} labels for {X.shape[0]} time steps")
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)  # refitting starts clean
        mode = self._calibration_plan(X.shape[0])
        held: np.ndarray | None = None
        if mode == "refit":
            held = self._cross_fitted_scores(X, y)
            self._fit(X, y)
        elif mode == "head":
            n_head = X.shape[0] - self._calibration_tail(X.shape[0])
            self._fit(X[:n_head], None if y is None else y[:n_head])
            # a tail shorter than the fitted model's shortest scorable series (a window fixed by the fit) is
            # scored with just enough of the head before it, and only the tail's own scores are kept
            tail = X.shape[0] - n_head
            lo = max(0, X.shape[0] - max(tail, self.min_series_length()))
            held = self._checked_scores(self._score(X[lo:]), X.shape[0] - lo)[-tail:]
        else:
            self._fit(X, y)
        self.n_channels_in_ = X.shape[1]
        if not hasattr(self, "train_scores_"):
            self.train_scores_ = self._checked_scores(self._score(X), X.shape[0])
        if held is not None:
            self.calibration_scores_ = held
        if hasattr(self, "calibration_scores_"):
            self.threshold_source_ = {
                "refit": f"held-out (out-of-fold, {self.calibration_folds} blocks of training)",
                "head": f"held-out (the last {self.calibration_share:.0%} of training)",
            }.get(mode) or self._own_calibration_source()
        else:
            self.threshold_source_ = "in-sample" if mode == "in-sample" else "in-sample (training series too short)"
        rule = make_threshold(self.threshold, self.contamination)
        reference = self.threshold_reference()
        self.threshold_ = float(rule.fit(reference))
        if (
            isinstance(rule, ContaminationThreshold)
            and hasattr(self, "calibration_scores_")
            and reference.size * rule.contamination < 10
            and (tail := exponential_tail_threshold(reference, rule.contamination)) is not None
        ):
            # too few held-out scores for the quantile to rest on ten of them: extrapolate their tail instead
            self.threshold_ = float(tail)
            note = f"; tail extrapolated from {reference.size} scores"
            src = self.threshold_source_
            self.threshold_source_ = f"{src[:-1]}{note})" if src.endswith(")") else f"{src} ({note[2:]})"
        return self

    # ----------------------------------------------------------------------------- calibration
    def _cross_fitted_scores(self, X: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """Out-of-fold scores of the whole training series: it is cut into ``calibration_folds`` contiguous
        blocks, and each block is scored by a copy fitted on the other blocks (joined end to end; the few
        windows across the join are the only ones no real stretch has)."""
        n = X.shape[0]
        bounds = np.linspace(0, n, self.calibration_folds + 1).round().astype(int)
        held = np.empty(n)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            twin = clone(self)
            rest = np.concatenate([X[:lo], X[hi:]])
            twin._fit(rest, None if y is None else np.concatenate([y[:lo], y[hi:]]))
            twin.n_channels_in_ = X.shape[1]
            held[lo:hi] = twin._checked_scores(twin._score(X[lo:hi]), hi - lo)
        return held

    def _own_calibration_source(self) -> str:
        """What ``threshold_source_`` says when ``_fit`` set ``calibration_scores_`` itself (mode ``"own"``)."""
        return "held-out (its own training stretch)"

    def _calibration_tail(self, n: int) -> int:
        """Steps held out at the end of an n-step training series for threshold calibration."""
        return int(round(n * self.calibration_share))

    def _calibration_plan(self, n: int) -> str:
        """The calibration mode ``fit`` uses for an n-step training series: the class's mode, or
        ``"too-short"`` (in-sample scores) when the head or the tail would be too short to fit or to calibrate on.

        The held-out scores must number at least ``max(min_series_length, 10 / contamination)``, so that the
        ``1 - contamination`` quantile rests on ten of them, except for ``"refit"``, whose out-of-fold scores
        cover the whole series: there 100 suffice and, under ``10 / contamination``, ``fit`` extrapolates an
        exponential tail fitted to their top tenth (still held-out) rather than use in-sample scores. A short
        ``"head"`` tail (the last 20 % of a series under ``50 / contamination`` steps) was tried the same way
        and not kept: on the first 60 % / last 40 % of six MSL training series (no labels) carla then flagged a
        median 0.16 of the unseen 40 % at contamination 0.01, against 0.07 with in-sample scores (session 10);
        a few hundred steps at the end of training do not show the variety of the whole. A held-out block must
        be scorable and the rest at least twice ``min_series_length``."""
        mode = self.calibration_mode or ("head" if self.tags.uses_torch else "refit")
        if mode in ("own", "in-sample"):
            return mode
        need = int(np.ceil(10.0 / float(self.contamination)))
        need = max(self.min_series_length(), min(need, MIN_HELD_OUT) if mode == "refit" else need)
        held = n if mode == "refit" else self._calibration_tail(n)
        block = n // self.calibration_folds if mode == "refit" else held
        if held < need or block < self.min_series_length() or n - block < 2 * self.min_series_length():
            return "too-short"
        return mode

    def threshold_reference(self) -> np.ndarray:
        """The scores thresholds and p-values are calibrated on: the held-out training scores
        (``calibration_scores_``, out-of-fold or of the held-out tail) when ``fit`` could hold any out, else the
        in-sample ``train_scores_``."""
        check_is_fitted(self)
        ref = getattr(self, "calibration_scores_", None)
        return np.asarray(self.train_scores_ if ref is None else ref, dtype=np.float64)

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Score every time step of X; higher means more anomalous.

        Args:
            X: series of shape (n_timesteps, n_channels) with the fitted channel count.

        Returns:
            float64 array of shape (n_timesteps,), all finite.
        """
        X = self._checked_input(X)
        return self._checked_scores(self._score(X), X.shape[0])

    def _checked_input(self, X: Any) -> np.ndarray:
        """X validated for scoring by this fitted detector: (n_timesteps, n_channels_in_) float64."""
        check_is_fitted(self)
        X = check_series(X, min_length=self.min_series_length(), allow_nan=self.tags.allow_nan)
        check_channels(X, self.n_channels_in_, type(self).__name__)
        return X

    def channel_scores(self, X: Any) -> np.ndarray:
        """The model's own per-channel decomposition of the score of every step.

        Only detectors tagged ``channel_scores`` have one (zscore: |z| per channel; reconstruction models:
        per-channel error; M2AD: each sensor's Fisher term). ``core.attribution.channel_attribution`` works
        for every detector (occlusion for the others).

        Args:
            X: series of shape (n_timesteps, n_channels) with the fitted channel count.

        Returns:
            float64 array of shape (n_timesteps, n_channels), non-negative and finite; larger = that channel
            contributes more to the step's anomaly score.
        """
        if not self.tags.channel_scores:
            raise NotImplementedError(
                f"{type(self).__name__} has no per-channel decomposition of its score; "
                "use anomalyforge.core.attribution.channel_attribution, which falls back on channel occlusion"
            )
        X = self._checked_input(X)
        out = np.asarray(self._channel_scores(X), dtype=np.float64)
        if out.shape != X.shape:
            raise RuntimeError(f"internal error: channel scores of shape {out.shape} for a series of {X.shape}")
        if not np.isfinite(out).all():
            raise RuntimeError("the detector produced non-finite channel scores; please report this as a bug")
        return np.maximum(out, 0.0)

    def decision_function(self, X: Any) -> np.ndarray:
        """Alias of ``anomaly_score`` for PyOD users."""
        return self.anomaly_score(X)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 prediction per time step: 1 where the score exceeds ``threshold_``."""
        return (self.anomaly_score(X) > self.threshold_).astype(np.int8)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------------------------------- training record
    def _record_training(self, part: str, report: Any) -> None:
        """Record how one trained part ended (a ``TrainReport`` or its ``as_dict()``), under ``part``.

        Every model that trains calls this once per part it trains (``"model"``, ``"stage1"``,
        ``"generator"``, ...); ``training_summary`` and the benchmark rows read it.
        """
        entry = dict(report.as_dict() if hasattr(report, "as_dict") else report)
        self.__dict__.setdefault("training_log_", {})[part] = entry

    def training_summary(self) -> dict[str, Any]:
        """How fitting ended: ``{"parts": {part: report}, "stopped_by": {part: reason}, "epochs": {part: n},
        "budget_cut": bool}``; ``budget_cut`` is True when any part stopped on its wall-time budget.

        A detector that trains nothing has no parts (``stopped_by`` empty, ``budget_cut`` False).
        """
        check_is_fitted(self)
        parts = dict(getattr(self, "training_log_", {}))
        stopped = {k: str(v.get("stopped_by", "")) for k, v in parts.items()}
        return {
            "parts": parts,
            "stopped_by": stopped,
            "epochs": {k: v.get("epochs_run") for k, v in parts.items()},
            "budget_cut": any(reason == "time budget" for reason in stopped.values()),
        }

    @staticmethod
    def _checked_scores(scores: Any, n: int) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != n:
            raise RuntimeError(f"internal error: {scores.shape[0]} scores for {n} time steps")
        if not np.isfinite(scores).all():
            bad = int((~np.isfinite(scores)).sum())
            raise RuntimeError(f"the detector produced {bad} non-finite scores; please report this as a bug")
        return scores


@dataclass
class GeneratedAnomalies:
    """Output of ``BaseGenerator.generate``.

    Attributes:
        anomalies: (n, window, n_channels) anomalous windows as generated (before patching).
        patched: (n, window, n_channels) windows after patching (equal to ``anomalies`` for generators
            without patching); these are what detectors train on.
        mask: (n, window, n_channels) bool, True exactly where ``patched`` differs from its source window.
        source: (n,) index of the source window of each output.
    """

    anomalies: np.ndarray
    patched: np.ndarray
    mask: np.ndarray
    source: np.ndarray

    @property
    def step_mask(self) -> np.ndarray:
        """(n, window) bool: time steps where any channel changed."""
        return self.mask.any(axis=2)


class BaseGenerator(SaveLoadMixin, BaseEstimator):
    """Base class of anomaly generators.

    Subclasses implement ``_generate(windows, rng) -> (anomalies, patched)`` (or just one array used for
    both) for windows of shape (n, window, n_channels), and ``_fit(X)`` when they learn from normal data.
    """

    tags: ClassVar[GeneratorTags] = GeneratorTags()
    max_redraws: ClassVar[int] = 10

    @property
    def registry_name(self) -> str | None:
        """The registered name this generator answers to, from its class and parameters (see BaseDetector)."""
        return GENERATORS.name_of(self)

    def _fit(self, X: np.ndarray) -> None:
        """Learn from a normal (n_timesteps, n_channels) series; nothing for rule-based generators."""

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def _build_modules(self) -> None:
        """Recreate torch modules from params and JSON fitted state, for ``load``."""

    def min_series_length(self) -> int:
        """Fewest time steps ``fit`` accepts (generators with a window: the window)."""
        return 2

    def default_window(self) -> int:
        """The window ``inject`` uses when none is given (generators with a window parameter: that)."""
        return 100

    def fit(self, X: Any, y: Any = None) -> BaseGenerator:
        """Fit on a normal series (n_timesteps, n_channels); returns self."""
        self._validate_params()
        X = check_series(X, min_length=self.min_series_length())
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)
        self._fit(X)
        self.n_channels_in_ = X.shape[1]
        return self

    def generate(self, windows: Any, n_per_window: int = 1, random_state: Any = None) -> GeneratedAnomalies:
        """Forge anomalies from normal windows.

        Args:
            windows: (n_windows, window, n_channels) normal windows (2-D means one channel).
            n_per_window: anomalies made from each window.
            random_state: seed or ``numpy.random.Generator``; the same seed gives the same output.

        Returns:
            ``GeneratedAnomalies`` with n_windows * n_per_window entries; every one differs from its
            source window in at least one cell, and ``mask`` marks exactly the cells that differ.
        """
        self._validate_params()
        W = check_windows(windows)
        if self.tags.requires_training:
            check_is_fitted(self)
        if hasattr(self, "n_channels_in_"):
            check_channels(W[0], self.n_channels_in_, type(self).__name__)
        if W.shape[1] < self.tags.min_window:
            raise ValueError(f"windows have {W.shape[1]} steps, {type(self).__name__} needs >= {self.tags.min_window}")
        if n_per_window < 1:
            raise ValueError(f"n_per_window must be >= 1, got {n_per_window}")
        rng = np.random.default_rng(random_state)
        source = np.repeat(np.arange(W.shape[0]), n_per_window)
        src = W[source]
        anomalies, patched = self._split(self._generate(src.copy(), rng))
        todo = ~(patched != src).reshape(len(src), -1).any(axis=1)
        for _ in range(self.max_redraws):
            if not todo.any():
                break
            idx = np.flatnonzero(todo)
            a2, p2 = self._split(self._generate(src[idx].copy(), rng))
            anomalies[idx], patched[idx] = a2, p2
            todo[idx] = ~(p2 != src[idx]).reshape(len(idx), -1).any(axis=1)
        if todo.any():
            raise RuntimeError(
                f"{type(self).__name__} left {int(todo.sum())} windows unchanged after {self.max_redraws} "
                "redraws (constant windows?); check the input windows or the generator's parameters"
            )
        return GeneratedAnomalies(anomalies=anomalies, patched=patched, mask=patched != src, source=source)

    def inject(
        self,
        series: Any,
        n_anomalies: int = 1,
        window: int | None = None,
        random_state: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Plant anomalies into a normal series at random, non-overlapping windows.

        Args:
            series: (n_timesteps, n_channels) normal series.
            n_anomalies: how many windows to change.
            window: window length (default: the generator's ``window`` parameter, else 100).
            random_state: seed or Generator.

        Returns:
            ``(new_series, mask)``: the changed series (n_timesteps, n_channels) and the bool mask of
            exactly the cells that changed.
        """
        X = check_series(series)
        window = int(window or self.default_window())
        if X.shape[0] < window:
            raise ValueError(f"the series has {X.shape[0]} steps, shorter than the window ({window})")
        starts = np.arange(0, X.shape[0] - window + 1, window)  # non-overlapping slots
        if n_anomalies > len(starts):
            raise ValueError(
                f"cannot place {n_anomalies} non-overlapping windows of {window} steps in {X.shape[0]} steps"
            )
        rng = np.random.default_rng(random_state)
        chosen_starts = np.sort(rng.choice(starts, n_anomalies, replace=False))
        windows = np.stack([X[s : s + window] for s in chosen_starts])
        out = self.generate(windows, 1, rng)
        new = X.copy()
        for s, w in zip(chosen_starts, out.patched, strict=True):
            new[s : s + window] = w
        return new, new != X

    @staticmethod
    def _split(out: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(out, tuple):
            a, p = out
        else:
            a = p = out
        a = np.asarray(a, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        return (a.copy() if a is p else a), p
