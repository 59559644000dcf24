"""The window pipeline every windowed detector shares: standardise, cut windows, subsample evenly, score
windows in batches, map window scores back to time steps.

Windows are zero-copy views of the series (``sliding_windows``); only one batch is ever copied, so a
100k-step series never holds all its windows in memory. ``how`` is one vocabulary everywhere:

- ``"max"``: a step takes the largest score of the windows that contain it (a short anomaly's peak shows
  in every step its window covers);
- ``"mean"``: the mean of those scores (smoother);
- ``"min"``: the smallest of them (when a window's score means "this window holds an anomaly somewhere",
  only steps inside the anomaly have every covering window high, so ``min`` localises it);
- ``"last"``: the score of the first window that ends at or after the step (the online convention: with
  stride 1, the window ending at the step); the first ``window - 1`` steps take the first window's score;
- ``"point"``: the model scores every step of a window (an (n_windows, window) array, e.g. a per-step
  reconstruction error); a step takes the mean of its values over the windows that contain it.

A model that returns per-step scores for a window supports every ``how``: for the window-level mappings
its window score is the mean over the window's steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d

from anomalyforge.core.base import BaseDetector

__all__ = [
    "How",
    "HOWS",
    "WindowSpec",
    "check_how",
    "standardiser",
    "standardise",
    "window_starts",
    "sliding_windows",
    "series_windows",
    "even_subsample",
    "WindowGather",
    "training_windows",
    "windows_to_steps",
    "score_series",
    "window_scores",
    "channel_steps",
    "WindowDetector",
    "StreamPlan",
]

How = Literal["max", "mean", "min", "last", "point"]
HOWS: tuple[str, ...] = get_args(How)


def check_how(how: str, allowed: tuple[str, ...] = HOWS, owner: str = "the detector") -> None:
    """Raise a clear ``ValueError`` unless ``how`` is one of ``allowed``."""
    if how not in allowed:
        raise ValueError(f"how={how!r} is not a mapping {owner} supports; choose one of {', '.join(allowed)}")


@dataclass(frozen=True)
class WindowSpec:
    """What the pipeline needs to know of a windowed detector, built explicitly from its parameters.

    Attributes:
        window: window length in steps.
        score_stride: step between scored windows (the last window always ends at the last step).
        how: window -> step mapping (see the module docstring).
        train_stride: step between training windows before subsampling.
        max_train_windows: at most this many training windows, evenly spread (None: all).
        batch_size: windows per scoring batch.
        clip: standardised values are clipped to [-clip, clip] (None: no clipping).
        dtype: dtype of the standardised series handed to the model.
    """

    window: int
    score_stride: int = 1
    how: str = "max"
    train_stride: int = 1
    max_train_windows: int | None = None
    batch_size: int = 4096
    clip: float | None = None
    dtype: type = np.float64


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of X (n, C); constant channels get std 1.

    Constant channels are kept: with std 1 they add nothing to a distance but never divide by zero.
    """
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return mean, np.where(std > 1e-12, std, 1.0)


def standardise(
    X: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float | None = None, dtype: type = np.float64
) -> np.ndarray:
    """(X - mean) / std per channel, optionally clipped to [-clip, clip]; one new (n, C) array of ``dtype``."""
    Z = X - mean  # one new array, then in place: the peak stays at one copy of the series
    Z /= std
    if clip is not None:
        np.clip(Z, -clip, clip, out=Z)
    return Z if Z.dtype == dtype else Z.astype(dtype)


def window_starts(n_timesteps: int, window: int, stride: int = 1) -> np.ndarray:
    """Start indices of windows of length ``window`` every ``stride`` steps, always covering the last step.

    Returns:
        int64 array of shape (n_windows,); the last start is ``n_timesteps - window`` even when the
        stride does not land on it, so no time step is ever left without a window.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1; got window={window}, stride={stride}")
    if n_timesteps < window:
        raise ValueError(
            f"the series has {n_timesteps} time steps, shorter than the window ({window}); "
            "pass a longer series or a smaller window"
        )
    starts = np.arange(0, n_timesteps - window + 1, stride, dtype=np.int64)
    if starts[-1] != n_timesteps - window:
        starts = np.append(starts, n_timesteps - window)
    return starts


def series_windows(Z: np.ndarray, window: int) -> np.ndarray:
    """Zero-copy (n - window + 1, window, C) view of every window of a (n, C) series."""
    return sliding_window_view(Z, window, axis=0).transpose(0, 2, 1)


def sliding_windows(X: np.ndarray, window: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a series every ``stride`` steps as a zero-copy view, with their starts.

    Args:
        X: (n_timesteps, n_channels) array (1-D means one channel).
        window: window length.
        stride: step between window starts.

    Returns:
        ``(windows, starts)``: (n_windows, window, n_channels) read-only view (index batches of it and copy
        only the batch) and (n_windows,) start indices.
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    starts = window_starts(X.shape[0], window, stride)
    view = series_windows(X, window)
    return (view[starts] if stride != 1 else view), starts


def even_subsample(n: int, k: int | None) -> np.ndarray:
    """At most ``k`` indices of ``range(n)``, evenly spread and always including the first and last."""
    if k is None or n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


class WindowGather:
    """The windows ``view[starts]`` without copying them all: indexing copies only what is asked for.

    Args:
        view: every window of a series (``series_windows``).
        starts: (m,) starts of the windows this object stands for.
    """

    def __init__(self, view: np.ndarray, starts: np.ndarray) -> None:
        self.view, self.starts = view, np.asarray(starts, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.starts), *self.view.shape[1:])

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        return self.view[self.starts[index]]

    def materialise(self, dtype: type | None = None) -> np.ndarray:
        """All the windows as one contiguous (m, window, C) array."""
        out = np.ascontiguousarray(self.view[self.starts])
        return out if dtype is None else out.astype(dtype, copy=False)

    def flat(self, dtype: type | None = None) -> np.ndarray:
        """All the windows flattened time-major to (m, window * C) vectors."""
        return self.materialise(dtype).reshape(len(self.starts), -1)


def training_windows(Z: np.ndarray, spec: WindowSpec) -> WindowGather:
    """Training windows of a standardised series: every ``train_stride`` steps, then at most
    ``max_train_windows`` of them evenly spread (the first and last kept)."""
    starts = window_starts(Z.shape[0], spec.window, spec.train_stride)
    return WindowGather(series_windows(Z, spec.window), starts[even_subsample(len(starts), spec.max_train_windows)])


def _running_extreme(window_scores: np.ndarray, starts: np.ndarray, window: int, n: int) -> np.ndarray:
    """Max over the windows containing each step (windows must cover every step)."""
    by_start = np.full(n, -np.inf)
    np.maximum.at(by_start, starts, window_scores)
    # step t is covered by windows starting in [t - window + 1, t]: a trailing running maximum.
    return maximum_filter1d(by_start, size=window, origin=(window - 1) // 2, mode="constant", cval=-np.inf)


def _covering_mean(values: np.ndarray, starts: np.ndarray, window: int, n: int) -> np.ndarray:
    total = np.zeros(n + 1)
    count = np.zeros(n + 1)
    np.add.at(total, starts, values)
    np.add.at(total, starts + window, -values)
    np.add.at(count, starts, 1.0)
    np.add.at(count, starts + window, -1.0)
    total, count = np.cumsum(total)[:-1], np.cumsum(count)[:-1]
    return np.where(count > 0, total / np.maximum(count, 1), -np.inf)


class _StepAccumulator:
    """Collects batches of window scores and returns one score per step (bounded memory for ``point``)."""

    def __init__(self, n_timesteps: int, window: int, how: str) -> None:
        check_how(how)
        self.n, self.window, self.how = n_timesteps, window, how
        self.window_scores: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []
        if how == "point":
            self.total = np.zeros(n_timesteps)
            self.count = np.zeros(n_timesteps)
            self.offsets = np.arange(window)

    def add(self, scores: np.ndarray, starts: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] != self.window:
            raise ValueError(f"per-step window scores have {scores.shape[1]} columns for a window of {self.window}")
        if self.how == "point":
            if scores.ndim != 2:
                raise ValueError("how='point' needs per-step scores of shape (n_windows, window) from the model")
            positions = (starts[:, None] + self.offsets).ravel()
            self.total += np.bincount(positions, weights=scores.ravel(), minlength=self.n)
            self.count += np.bincount(positions, minlength=self.n)
            return
        self.window_scores.append(scores.mean(axis=1) if scores.ndim == 2 else scores.reshape(-1))
        self.starts.append(np.asarray(starts, dtype=np.int64))

    def result(self) -> np.ndarray:
        if self.how == "point":
            if (self.count == 0).any():
                raise ValueError(f"{int((self.count == 0).sum())} time steps are covered by no window")
            return self.total / self.count
        return windows_to_steps(np.concatenate(self.window_scores), np.concatenate(self.starts), self.window,
                                self.n, self.how)  # fmt: skip


def windows_to_steps(
    window_scores: np.ndarray, starts: np.ndarray, window: int, n_timesteps: int, how: str = "max"
) -> np.ndarray:
    """Map window scores to one score per time step.

    Args:
        window_scores: (n_windows,) one score per window, or (n_windows, window) per-step scores (required
            by ``"point"``; the window-level mappings use their mean over the window).
        starts: (n_windows,) window starts; together they must cover every step (``window_starts`` does).
        window: window length.
        n_timesteps: length of the scored series.
        how: ``"max"``, ``"mean"``, ``"min"``, ``"last"`` or ``"point"`` (module docstring).

    Returns:
        float64 array of shape (n_timesteps,).
    """
    check_how(how)
    scores = np.asarray(window_scores, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64).ravel()
    if scores.shape[0] != starts.shape[0]:
        raise ValueError(f"{scores.shape[0]} window scores for {starts.shape[0]} window starts")
    if how == "point":
        acc = _StepAccumulator(n_timesteps, window, how)
        acc.add(scores, starts)
        return acc.result()
    if scores.ndim == 2:
        scores = scores.mean(axis=1)
    if how == "last":
        ends = starts + window - 1
        if ends[-1] != n_timesteps - 1:
            raise ValueError("the last window must end at the last time step (use window_starts)")
        return scores[np.searchsorted(ends, np.arange(n_timesteps), side="left")]
    if how == "max":
        out = _running_extreme(scores, starts, window, n_timesteps)
    elif how == "min":
        out = -_running_extreme(-scores, starts, window, n_timesteps)
    else:
        out = _covering_mean(scores, starts, window, n_timesteps)
    if not np.isfinite(out).all():
        missing = int((~np.isfinite(out)).sum())
        raise ValueError(f"{missing} time steps are covered by no window; windows must cover the series")
    return out


def score_series(
    score_windows: Callable[[np.ndarray], np.ndarray], Z: np.ndarray, spec: WindowSpec
) -> np.ndarray:
    """Score every step of a standardised series with a model that scores batches of windows.

    Args:
        score_windows: (b, window, C) contiguous windows -> (b,) window scores or (b, window) per-step scores.
        Z: (n, C) standardised series.
        spec: window length, scoring stride, ``how`` and batch size.

    Returns:
        float64 (n,) step scores; only one batch of windows is copied at a time.
    """
    view, starts = sliding_windows(Z, spec.window, spec.score_stride)
    acc = _StepAccumulator(Z.shape[0], spec.window, spec.how)
    for lo in range(0, len(starts), spec.batch_size):
        sl = slice(lo, lo + spec.batch_size)
        acc.add(score_windows(np.ascontiguousarray(view[sl])), starts[sl])
    return acc.result()


def window_scores(
    score_windows: Callable[[np.ndarray], np.ndarray], Z: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray]:
    """The model's raw outputs for the windows every ``spec.score_stride`` steps, before any step mapping.

    Args:
        score_windows: (b, window, C) contiguous windows -> (b, ...) outputs.
        Z: (n, C) standardised series.
        spec: window length, scoring stride and batch size.

    Returns:
        ``(outputs, starts)``: the batches' outputs concatenated along the first axis, and the window starts.
    """
    view, starts = sliding_windows(Z, spec.window, spec.score_stride)
    parts = [score_windows(np.ascontiguousarray(view[lo : lo + spec.batch_size]))
             for lo in range(0, len(starts), spec.batch_size)]  # fmt: skip
    return np.concatenate(parts), starts


@dataclass(frozen=True)
class StreamPlan:
    """What ``core.stream.Stream`` needs to score a detector incrementally, declared by the detector.

    The step score is ``combine(window_steps, step_terms)``: the window pipeline's per-step scores (windows
    of ``standardise(rows)`` scored by ``score_windows`` inside ``scoring()``, mapped with ``spec.how``),
    combined per step with an optional term computed from each standardised row alone (``step_terms``).
    ``WindowDetector`` declares the plain pipeline (no step term); a detector with another structure of the
    same kind (VAN-AD: windowed reconstruction + per-step flow NLL) declares its own.

    Attributes:
        spec: window length, scoring stride, ``how``, batch size.
        standardise: (k, C) raw rows -> (k, C) rows the windows are cut from (per-row, no series statistic).
        score_windows: (b, window, C) windows -> (b,) or (b, window) scores.
        scoring: the context ``score_windows`` and ``step_terms`` run in.
        step_terms: (k, C) standardised rows -> (k,) per-row term, or None.
        combine: ``(window_steps (k,), step_terms (k,))`` -> (k,) scores; None: the window steps as they are.
    """

    spec: WindowSpec
    standardise: Callable[[np.ndarray], np.ndarray]
    score_windows: Callable[[np.ndarray], np.ndarray]
    scoring: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext
    step_terms: Callable[[np.ndarray], np.ndarray] | None = None
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def channel_steps(
    outputs: np.ndarray, starts: np.ndarray, window: int, n_timesteps: int, how: str = "max"
) -> np.ndarray:
    """Map per-channel window outputs to per-channel step scores, one channel at a time (``windows_to_steps``).

    Args:
        outputs: (n_windows, C) one value per window and channel, or (n_windows, window, C) per step and channel
            (required by ``"point"``; the window-level mappings use their mean over the window).
        starts: (n_windows,) window starts covering every step.
        window: window length.
        n_timesteps: length of the scored series.
        how: the step mapping, as for ``windows_to_steps``.

    Returns:
        float64 array of shape (n_timesteps, C).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    out = np.empty((n_timesteps, outputs.shape[-1]))
    for c in range(outputs.shape[-1]):
        out[:, c] = windows_to_steps(outputs[..., c], starts, window, n_timesteps, how)
    return out


class WindowDetector(BaseDetector):
    """A detector whose model sees windows; the shared pipeline (``core.windows``) does everything else.

    ``fit`` standardises the series per channel (``mean_``, ``std_``), cuts training windows every
    ``train_stride`` steps, keeps at most ``max_train_windows`` evenly spread and hands them to
    ``_fit_windows``; scoring standardises with the training statistics, slides windows every
    ``score_stride`` steps, scores them in batches with ``_score_windows`` and maps the window scores to
    steps with ``how``. A subclass writes only:

    - ``_window_spec()``: a ``WindowSpec`` built explicitly from its own parameters;
    - ``_fit_windows(windows, Z)``: fit the model on the training windows (a lazy ``WindowGather``;
      ``Z`` is the whole standardised training series, for models that need more than the windows);
    - ``_score_windows(batch)``: (b, window, C) windows -> (b,) scores, or (b, window) per-step scores
      (declare ``per_step_scores = True``; such a model supports ``how="point"`` too).
    """

    per_step_scores: ClassVar[bool] = False

    def _window_spec(self) -> WindowSpec:
        raise NotImplementedError

    def _fit_windows(self, windows: WindowGather, Z: np.ndarray) -> None:
        raise NotImplementedError

    def _score_windows(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _scoring(self) -> contextlib.AbstractContextManager[object]:
        """The context every call of ``_score_windows`` runs in (torch models: eval mode, device, threads).

        Batch scoring and ``core.stream.Stream`` both enter it, so a subclass that needs one writes it once.
        """
        return contextlib.nullcontext()

    def _stream_plan(self) -> StreamPlan:
        """The plain window pipeline, for ``core.stream.Stream``."""
        return StreamPlan(self._window_spec(), self._standardise, self._score_windows, self._scoring)

    def supported_how(self) -> tuple[str, ...]:
        """The window -> step mappings this model supports."""
        return HOWS if self.per_step_scores else tuple(h for h in HOWS if h != "point")

    def min_series_length(self) -> int:
        return max(self._window_spec().window, self.tags.min_length)

    def channel_baseline(self) -> np.ndarray:
        """The training mean of each channel (0 in standardised units)."""
        return self.mean_

    def _channel_steps(self, per_channel: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
        """(n, C) step scores per channel from a model giving (b, C) or (b, window, C) outputs per window batch."""
        spec = self._window_spec()
        outputs, starts = window_scores(per_channel, self._standardise(X), spec)
        return channel_steps(outputs, starts, spec.window, X.shape[0], spec.how)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        spec = self._window_spec()
        return standardise(X, self.mean_, self.std_, spec.clip, spec.dtype)

    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        spec = self._window_spec()
        check_how(spec.how, self.supported_how(), type(self).__name__)
        self.mean_, self.std_ = standardiser(X)
        Z = self._standardise(X)
        self._fit_windows(training_windows(Z, spec), Z)

    def _score(self, X: np.ndarray) -> np.ndarray:
        with self._scoring():
            return score_series(self._score_windows, self._standardise(X), self._window_spec())
