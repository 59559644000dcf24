"""Score a live series chunk by chunk with a fitted detector: the scores equal batch scoring.

``Stream(detector).update(rows)`` takes the next rows of the series and returns the scores of the steps that
became *final* with them; ``flush()`` ends the series and returns the rest. Concatenated, the returned scores
equal ``detector.anomaly_score(all_rows)`` (the whole series scored at once), so a live user sees exactly
what a later batch run would report, as soon as it can no longer change. Only the context the next scores
need is kept: at most ``window`` standardised rows plus the current chunk, and the scores of the windows
that still cover unemitted steps, however long the stream runs.

When is a step final? A windowed detector (``core.windows.WindowDetector``) scores windows at starts
``0, s, 2s, ...`` (``s`` = ``score_stride``) plus, at the end of the series, one window ending at its last
step. The step mapping (``how``) then decides what a step waits for:

- ``"max"``, ``"mean"``, ``"min"``, ``"point"``: every window covering the step, the last of which starts
  at the step itself, so a step is final ``window - 1`` rows later with ``score_stride=1`` and at most
  ``window`` rows later otherwise (the end-of-series window might still cover it);
- ``"last"``: the first window ending at or after the step: ``score_stride - 1`` rows later at most (with
  stride 1 a step is final when it arrives; the first ``window - 1`` steps wait for the first window).

``Stream.latency`` gives that figure. A detector built on the window pipeline with a per-row term
(``StreamPlan.step_terms``, e.g. ``vanad``: windowed reconstruction + per-step flow NLL) follows the same rule.
A step-local detector (``Tags.step_local``: its score is a function of the step's row alone, e.g. ``zscore``)
has latency 0. A detector that declares a bounded context (``_stream_context() -> (before, after)``, e.g.
``m2ad``: a forecast from the previous ``window`` rows, then residuals smoothed by a centred moving window) is
rescored over a buffer of the rows its final steps need, with its own batch code: latency ``after``. At
``flush`` the steps still waiting get the scores batch scoring gives at a series end (the extra end-of-series
window, the end padding of a filter). Other detectors refuse to stream with ``NotImplementedError`` quoting
their ``stream_limitation``; every registered detector streams.

Equality is exact (to 1e-9) for float64 models (the scikit-learn ones, ``zscore``); torch models compute in
float32 and agree to float32 rounding (relative 1e-6), as batch scoring with another batch size does.

Standardisation uses the fitted training mean and deviation per step, so it is the same in both modes;
nothing is padded at the series start (the first steps take the first window's scores in both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from anomalyforge.core.base import BaseDetector
from anomalyforge.core.validation import check_is_fitted
from anomalyforge.core.windows import StreamPlan, _covering_mean, _running_extreme, series_windows

__all__ = ["Stream", "StreamScores", "MIN_BATCH"]

#: Windows are scored in batches of at least this many (small batches padded with copies of their last
#: window, whose scores are dropped). CPU float32 kernels (MKL / oneDNN pick them by batch size) round a
#: batch of a few rows differently from a larger one: a torch model scoring one window alone differs from
#: batch scoring by float32 rounding (~1e-7). Padding removes most of that; what remains comes from where a
#: window sits in its batch (the kernels' tail blocks), which batch scoring itself changes with
#: ``batch_size``: float32 models agree with batch scoring to float32 rounding, float64 models exactly.
MIN_BATCH = 16


@dataclass(frozen=True)
class StreamScores:
    """Scores that became final in one ``update`` or ``flush``: steps ``first_step .. first_step + len - 1``.

    Attributes:
        first_step: index (from 0, over the whole stream) of the first step in ``scores``.
        scores: (k,) float64 final scores, as batch scoring gives them.
        flags: (k,) int8, 1 where the score exceeds the detector's ``threshold_``.
    """

    first_step: int
    scores: np.ndarray
    flags: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """(k,) int64 step indices of ``scores``."""
        return np.arange(self.first_step, self.first_step + len(self.scores), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.scores)


class _StepLocalScorer:
    """A detector whose step score depends on that step's row only: score each chunk as it comes."""

    latency = 0

    def __init__(self, detector: BaseDetector) -> None:
        self.detector = detector

    def add(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector._score(X), dtype=np.float64).reshape(-1)

    def finish(self, n: int) -> np.ndarray:
        return np.empty(0)

    @property
    def retained_rows(self) -> int:
        return 0

    @property
    def retained_windows(self) -> int:
        return 0

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


def _padded(fn: Any, batch: np.ndarray) -> np.ndarray:
    """``fn(batch)`` with the batch padded to ``MIN_BATCH`` rows by copies of its last row (dropped after)."""
    k = len(batch)
    if k < MIN_BATCH:
        batch = np.concatenate([batch, np.repeat(batch[-1:], MIN_BATCH - k, axis=0)])
    return np.asarray(fn(np.ascontiguousarray(batch)), dtype=np.float64)[:k]


class _MemberScorer:
    """A detector whose score combines, step by step, the scores of fitted member detectors
    (``BaseDetector._stream_members``, e.g. ``auto``): one stream per member; a step is final once it is final
    in every member, and its score is the detector's combination of the members' scores."""

    def __init__(self, members: list[BaseDetector], combine: Any) -> None:
        self.streams = [Stream(m) for m in members]
        self.combine = combine
        self.pending = [np.empty(0) for _ in members]

    @property
    def latency(self) -> int:
        return max(s.latency for s in self.streams)

    @property
    def retained_rows(self) -> int:
        return max(s.retained_rows for s in self.streams)

    @property
    def retained_windows(self) -> int:
        return sum(s.retained_windows for s in self.streams) + max(len(p) for p in self.pending)

    def _take(self, parts: list[np.ndarray]) -> np.ndarray:
        self.pending = [np.concatenate([p, q]) for p, q in zip(self.pending, parts, strict=True)]
        n = min(len(p) for p in self.pending)
        if n == 0:
            return np.empty(0)
        ready = [p[:n] for p in self.pending]
        self.pending = [p[n:] for p in self.pending]
        return np.asarray(self.combine(ready), dtype=np.float64).reshape(-1)

    def add(self, X: np.ndarray) -> np.ndarray:
        return self._take([s.update(X).scores for s in self.streams])

    def finish(self, n: int) -> np.ndarray:
        return self._take([s.flush().scores for s in self.streams])

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_members": len(self.streams)}
        for i, (s, p) in enumerate(zip(self.streams, self.pending, strict=True)):
            out[f"member{i}"], out[f"pending{i}"] = s.state_dict(), p.copy()
        return out

    def load(self, state: dict[str, Any]) -> None:
        if int(state.get("n_members", -1)) != len(self.streams):
            raise ValueError(f"the saved stream state has {state.get('n_members')} members, this detector "
                             f"{len(self.streams)}; the state belongs to another model")  # fmt: skip
        self.streams = [Stream.from_state(s.detector, state[f"member{i}"]) for i, s in enumerate(self.streams)]
        self.pending = [np.asarray(state[f"pending{i}"], dtype=np.float64) for i in range(len(self.streams))]


class _ContextScorer:
    """A detector whose step score depends on a bounded context (``BaseDetector._stream_context``): rescore
    the rows a final step needs, from the series start or from ``before`` rows back, with the batch code."""

    def __init__(self, detector: BaseDetector, before: int, after: int, n_channels: int) -> None:
        self.detector, self.before, self.after = detector, int(before), int(after)
        self.min_length = detector.min_series_length()
        self.rows = np.empty((0, n_channels))  # raw rows from row_offset on
        self.row_offset = self.n = self.emitted = 0

    @property
    def latency(self) -> int:
        return self.after

    @property
    def retained_rows(self) -> int:
        return len(self.rows)

    @property
    def retained_windows(self) -> int:
        return 0

    def state(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "rows": self.rows.copy(), "row_offset": self.row_offset,
                "n": self.n, "emitted": self.emitted}  # fmt: skip

    def load(self, state: dict[str, Any]) -> None:
        _expect(state, {"before": self.before, "after": self.after})
        self.rows = np.asarray(state["rows"], dtype=np.float64).reshape(-1, self.rows.shape[1])
        self.row_offset, self.n, self.emitted = int(state["row_offset"]), int(state["n"]), int(state["emitted"])

    def add(self, X: np.ndarray) -> np.ndarray:
        self.rows = np.concatenate([self.rows, X])
        self.n += len(X)
        return self._emit(self.n - self.after)

    def finish(self, n: int) -> np.ndarray:
        if n < self.min_length:
            raise ValueError(
                f"the stream ended after {n} rows, fewer than the {self.min_length} the detector needs to score "
                "a series (batch scoring refuses such a series too); no step can be scored"
            )
        return self._emit(n)

    def _emit(self, final: int) -> np.ndarray:
        if final <= self.emitted or self.n - self.row_offset < self.min_length:
            return np.empty(0)
        scores = np.asarray(self.detector._score(self.rows), dtype=np.float64).reshape(-1)
        out = scores[self.emitted - self.row_offset : final - self.row_offset]
        self.emitted = final
        keep_from = max(0, final - self.before)  # the next step's context starts here (or at the series start)
        if keep_from > self.row_offset:
            self.rows = self.rows[keep_from - self.row_offset :].copy()
            self.row_offset = keep_from
        return out


def _expect(state: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse a saved state taken with other stream settings (another window, stride or mapping)."""
    for name, value in settings.items():
        if state.get(name) != value:
            raise ValueError(f"the saved stream state has {name}={state.get(name)!r}, this detector streams with "
                             f"{name}={value!r}; the state belongs to another model")  # fmt: skip


class _WindowScorer:
    """The window pipeline of ``WindowDetector._score`` (a ``StreamPlan``), run incrementally (module docstring)."""

    def __init__(self, plan: StreamPlan, min_length: int, n_channels: int) -> None:
        spec = plan.spec
        self.plan = plan
        self.window, self.stride, self.how, self.batch_size = spec.window, spec.score_stride, spec.how, spec.batch_size
        if self.stride > self.window and self.how != "last":
            raise ValueError(
                f"score_stride={self.stride} is larger than window={self.window}: steps between windows get no "
                f"score with how={self.how!r}, in batch scoring too; use a stride <= window or how='last'"
            )
        self.min_length = min_length
        self.terms = np.empty(0)  # per-row terms of the steps not emitted yet (plans with step_terms)
        self.rows = np.empty((0, n_channels), dtype=spec.dtype)  # standardised rows from row_offset on
        self.row_offset = 0
        self.n = 0  # rows seen
        self.emitted = 0  # steps returned
        self.next_start = 0  # next grid window start not scored yet
        self.last_scored = -1  # start of the last scored window
        self.starts = np.empty(0, dtype=np.int64)  # scored windows that may still cover unemitted steps
        self.values = np.empty((0, self.window) if self.how == "point" else 0)

    @property
    def latency(self) -> int:
        if self.how == "last":
            return self.stride - 1
        return self.window - 1 if self.stride == 1 else self.window

    @property
    def retained_rows(self) -> int:
        return len(self.rows)

    @property
    def retained_windows(self) -> int:
        return len(self.starts)

    def state(self) -> dict[str, Any]:
        return {
            "window": self.window, "stride": self.stride, "how": self.how,
            "rows": self.rows.copy(), "terms": self.terms.copy(), "starts": self.starts.copy(),
            "values": self.values.copy(), "row_offset": self.row_offset, "n": self.n, "emitted": self.emitted,
            "next_start": self.next_start, "last_scored": self.last_scored,
        }  # fmt: skip

    def load(self, state: dict[str, Any]) -> None:
        _expect(state, {"window": self.window, "stride": self.stride, "how": self.how})
        self.rows = np.asarray(state["rows"], dtype=self.rows.dtype).reshape(-1, self.rows.shape[1])
        self.terms = np.asarray(state["terms"], dtype=np.float64).reshape(-1)
        self.starts = np.asarray(state["starts"], dtype=np.int64).reshape(-1)
        values = np.asarray(state["values"], dtype=np.float64)
        self.values = values.reshape(-1, self.window) if self.how == "point" else values.reshape(-1)
        for name in ("row_offset", "n", "emitted", "next_start", "last_scored"):
            setattr(self, name, int(state[name]))

    # ------------------------------------------------------------------------------------------ steps
    def add(self, X: np.ndarray) -> np.ndarray:
        Z = self.plan.standardise(X)
        if self.plan.step_terms is not None:
            with self.plan.scoring():
                self.terms = np.concatenate([self.terms, _padded(self.plan.step_terms, Z).reshape(-1)])
        self.rows = np.concatenate([self.rows, Z])
        self.n += len(X)
        last = self.n - self.window
        if last >= self.next_start:
            starts = np.arange(self.next_start, last + 1, self.stride, dtype=np.int64)
            self._score(starts)
            self.next_start = int(starts[-1]) + self.stride
        out = self._emit(self._final_count())
        keep_from = max(0, self.n - self.window)  # the end-of-series window needs the last `window` rows
        if keep_from > self.row_offset:
            self.rows = self.rows[keep_from - self.row_offset :].copy()
            self.row_offset = keep_from
        return out

    def finish(self, n: int) -> np.ndarray:
        if n < self.min_length:
            raise ValueError(
                f"the stream ended after {n} rows, fewer than the {self.min_length} the detector needs to score "
                "a series (batch scoring refuses such a series too); no step can be scored"
            )
        if self.last_scored != n - self.window:  # the window ending at the last step, as window_starts adds
            self._score(np.array([n - self.window], dtype=np.int64))
        return self._emit(n)

    def _final_count(self) -> int:
        """How many leading steps can no longer change (module docstring)."""
        if self.how == "last":
            return self.last_scored + self.window if self.last_scored >= 0 else 0
        if self.n < self.window:
            return 0
        on_grid = (self.n - self.window) % self.stride == 0
        return self.n - self.window + (1 if on_grid else 0)

    def _score(self, starts: np.ndarray) -> None:
        view = series_windows(self.rows, self.window)
        parts = []
        with self.plan.scoring():
            for lo in range(0, len(starts), self.batch_size):
                local = starts[lo : lo + self.batch_size] - self.row_offset
                parts.append(_padded(self.plan.score_windows, view[local]))  # see MIN_BATCH
        values = np.concatenate(parts)
        if self.how == "point":
            if values.ndim != 2:
                raise ValueError("how='point' needs per-step scores of shape (n_windows, window) from the model")
        elif values.ndim == 2:
            values = values.mean(axis=1)
        self.starts = np.concatenate([self.starts, starts])
        self.values = np.concatenate([self.values, values])
        self.last_scored = int(starts[-1])

    def _emit(self, final: int) -> np.ndarray:
        first = self.emitted
        if final <= first:
            return np.empty(0)
        starts, values, w = self.starts, self.values, self.window
        if self.how == "last":
            ends = starts + w - 1
            out = values[np.searchsorted(ends, np.arange(first, final), side="left")]
        else:
            lo = int(starts[0])
            length = int(starts[-1]) + w - lo
            local = starts - lo
            if self.how == "max":
                steps = _running_extreme(values, local, w, length)
            elif self.how == "min":
                steps = -_running_extreme(-values, local, w, length)
            elif self.how == "mean":
                steps = _covering_mean(values, local, w, length)
            else:  # point: the mean of the windows' per-step values, summed in window order like batch scoring
                positions = (local[:, None] + np.arange(w)).ravel()
                total = np.bincount(positions, weights=values.ravel(), minlength=length)
                count = np.bincount(positions, minlength=length)
                steps = total / np.maximum(count, 1)
            out = steps[first - lo : final - lo]
        if self.plan.step_terms is not None:
            terms, self.terms = self.terms[: final - first], self.terms[final - first :]
            out = self.plan.combine(out, terms) if self.plan.combine is not None else out + terms
        self.emitted = final
        keep = starts + w - 1 >= final  # windows ending before the next unemitted step are done with
        self.starts, self.values = starts[keep], values[keep]
        return np.asarray(out, dtype=np.float64)


class Stream:
    """Score a growing series with a fitted detector; final scores equal batch scoring of all rows.

    Args:
        detector: a fitted detector that declares a ``StreamPlan`` (every ``WindowDetector`` does) or is
            step-local (``Tags.step_local``).

    Raises:
        NotImplementedError: the detector's scores cannot be reproduced incrementally (its
            ``stream_limitation`` says why).

    Example::

        stream = Stream(det)
        for chunk in chunks:                # (k, n_channels) rows, any k >= 0
            out = stream.update(chunk)      # scores of steps out.first_step .. that are now final
        rest = stream.flush()               # the last steps, scored as batch scoring scores a series end
    """

    def __init__(self, detector: BaseDetector) -> None:
        check_is_fitted(detector)
        self.detector = detector
        self.n_channels = int(detector.n_channels_in_)
        self.threshold = float(getattr(detector, "threshold_", np.nan))  # members of a combination have none
        name = detector.registry_name or type(detector).__name__
        plan = detector._stream_plan()
        if plan is not None:
            self._scorer: _WindowScorer | _StepLocalScorer | _ContextScorer | _MemberScorer = _WindowScorer(
                plan, detector.min_series_length(), self.n_channels
            )
        elif detector.tags.step_local:
            self._scorer = _StepLocalScorer(detector)
        elif detector._stream_members() is not None:
            members, combine = detector._stream_members()
            self._scorer = _MemberScorer(members, combine)
        elif detector._stream_context() is not None:
            before, after = detector._stream_context()
            self._scorer = _ContextScorer(detector, before, after, self.n_channels)
        else:
            reason = detector.stream_limitation or (
                "it declares no stream plan (core.windows.StreamPlan), no bounded context (_stream_context) and "
                "is not step-local (Tags.step_local), so the stream cannot know which rows a score depends on"
            )
            raise NotImplementedError(f"{name} cannot be streamed with scores equal to batch scoring: {reason}")
        self.n_rows = 0
        self.n_emitted = 0
        self.closed = False

    @property
    def latency(self) -> int:
        """Worst-case number of later rows a step waits for before its score is final (0: none)."""
        return self._scorer.latency

    @property
    def retained_rows(self) -> int:
        """Rows kept for the windows to come (bounded by the window length between updates)."""
        return self._scorer.retained_rows

    @property
    def retained_windows(self) -> int:
        """Window scores kept for steps not yet final (bounded by the window length)."""
        return self._scorer.retained_windows

    def state_dict(self) -> dict[str, Any]:
        """Everything the stream holds besides its detector: counters and the retained context (bounded by
        about one window), as ints, strings and numpy arrays (no objects; store it as you like, e.g. npz).

        ``Stream.from_state(detector, stream.state_dict())`` continues exactly as ``stream`` would.
        """
        return {
            "kind": type(self._scorer).__name__, "n_channels": self.n_channels, "n_rows": self.n_rows,
            "n_emitted": self.n_emitted, "closed": bool(self.closed), "scorer": self._scorer.state(),
        }  # fmt: skip

    @classmethod
    def from_state(cls, detector: BaseDetector, state: dict[str, Any]) -> Stream:
        """A stream over ``detector`` (the one the state was taken with) in the state ``state_dict`` returned.

        Raises:
            ValueError: the state was taken with another kind of detector or other stream settings.
        """
        stream = cls(detector)
        kind = type(stream._scorer).__name__
        if state.get("kind") != kind or int(state.get("n_channels", -1)) != stream.n_channels:
            raise ValueError(
                f"the saved stream state is for a {state.get('kind')} stream over {state.get('n_channels')} channels; "
                f"this detector streams with {kind} over {stream.n_channels}; the state belongs to another model"
            )
        stream._scorer.load(dict(state["scorer"]))
        stream.n_rows, stream.n_emitted = int(state["n_rows"]), int(state["n_emitted"])
        stream.closed = bool(state["closed"])
        return stream

    def update(self, rows: Any) -> StreamScores:
        """Add the next rows of the series.

        Args:
            rows: (k, n_channels) rows (k may be 0); one row of a multichannel series may be given as
                (n_channels,); for a one-channel detector a 1-D array is k rows.

        Returns:
            the scores of the steps that became final, in order (possibly none).
        """
        if self.closed:
            raise RuntimeError("the stream was flushed; start a new Stream for a new series")
        X = self._checked_rows(rows)
        if len(X) == 0:
            return self._result(np.empty(0))
        scores = self._scorer.add(X)
        self.n_rows += len(X)
        return self._result(scores)

    def flush(self) -> StreamScores:
        """End the series: score the steps still waiting as batch scoring scores the series end.

        Raises:
            ValueError: fewer rows arrived than the detector needs to score a series.
        """
        if self.closed:
            return self._result(np.empty(0))
        self.closed = True
        return self._result(self._scorer.finish(self.n_rows))

    close = flush

    def _result(self, scores: np.ndarray) -> StreamScores:
        scores = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(scores).all():
            raise RuntimeError("the detector produced non-finite scores; please report this as a bug")
        out = StreamScores(self.n_emitted, scores, (scores > self.threshold).astype(np.int8))
        self.n_emitted += len(scores)
        return out

    def _checked_rows(self, rows: Any) -> np.ndarray:
        try:
            X = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stream rows must be numbers; got {type(rows).__name__} that is not ({exc})") from exc
        if X.ndim == 1:
            if self.n_channels == 1:
                X = X[:, None]
            elif X.shape[0] == self.n_channels:
                X = X[None, :]
            else:
                raise ValueError(
                    f"a 1-D chunk of {X.shape[0]} values does not fit {self.n_channels} channels; "
                    f"pass rows of shape (k, {self.n_channels})"
                )
        if X.ndim != 2 or (X.size and X.shape[1] != self.n_channels):
            raise ValueError(f"stream rows must have shape (k, {self.n_channels}) for this detector; got {X.shape}")
        if X.size and not np.isfinite(X).all() and not self.detector.tags.allow_nan:
            i, j = np.argwhere(~np.isfinite(X))[0]
            raise ValueError(
                f"step {self.n_rows + int(i)} (row {int(i)} of this chunk) has a missing or infinite value in "
                f"channel {int(j)}; fill missing values before streaming (command line: --fill ffill)"
            )
        return X.reshape(-1, self.n_channels)
