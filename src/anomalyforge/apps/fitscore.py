"""Fit and score as separate steps (``anomalyforge fit`` / ``score``); ``detect`` is the two in one run.

``fit_model`` fits a detector on a CSV/Parquet training file and saves it with the file's *data schema*
(``DataSchema``: channel names in order, the fill option, the timestamp and label columns) in the model
file's metadata. ``score_file`` reads a new file against that schema: columns missing or extra are an error
naming them; the same channels in another order are put back in the fitted order (with a notice). Both
``score`` and ``detect`` write the same outputs with one function (``write_outputs``): ``scores.csv``,
``plot.png``, ``intervals.csv`` (alerts, ``core.intervals``) and, when the file has labels with both
classes, ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalyforge.core.base import BaseDetector
from anomalyforge.core.intervals import INTERVAL_COLUMNS, AlertInterval, calibrated_p_values, flag_intervals
from anomalyforge.datasets.base import SeriesData

__all__ = [
    "DataSchema",
    "FitResult",
    "DetectionResult",
    "fit_model",
    "fit_loaded",
    "load_fitted",
    "read_scored_file",
    "score_file",
    "write_outputs",
    "peak_p_values",
]


@dataclass(frozen=True)
class DataSchema:
    """How the training file was read: what a file scored by the model must look like.

    Attributes:
        channels: channel column names, in the order the model was fitted on.
        fill: missing-value option (``"none"`` or ``"ffill"``).
        timestamp_column: the timestamp column of the training file, or None.
        label_column: the label column of the training file, or None.
    """

    channels: tuple[str, ...]
    fill: str = "none"
    timestamp_column: str | None = None
    label_column: str | None = None

    @classmethod
    def of(cls, data: SeriesData, fill: str) -> DataSchema:
        return cls(
            channels=tuple(str(c) for c in data.channels),
            fill=fill,
            timestamp_column=data.meta.get("timestamp_column"),
            label_column=data.meta.get("label_column"),
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> DataSchema:
        try:
            return cls(
                channels=tuple(d["channels"]),
                fill=str(d.get("fill", "none")),
                timestamp_column=d.get("timestamp_column"),
                label_column=d.get("label_column"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where}: its data schema is unreadable ({exc}); fit and save the model again") from exc

    def order_of(self, channels: Sequence[str], where: str) -> tuple[list[str], str | None]:
        """Check the channel columns of a file against the schema.

        Returns:
            ``(channels in the fitted order, notice)``; the notice is None unless the order had to change.

        Raises:
            ValueError: naming the missing and the extra columns.
        """
        got, want = list(channels), list(self.channels)
        missing = [c for c in want if c not in got]
        extra = [c for c in got if c not in want]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"extra column(s) {', '.join(map(repr, extra))}")
            raise ValueError(
                f"{where}: {' and '.join(parts)}; the model was fitted on the channels "
                f"{', '.join(map(repr, want))} (timestamp column {self.timestamp_column!r}, label column "
                f"{self.label_column!r})"
            )
        if got != want:
            return want, (f"{where}: channel columns are in another order than at fit time; "
                          f"reordered by name to {', '.join(want)}")  # fmt: skip
        return want, None


@dataclass
class FitResult:
    """What ``fit_model`` produced."""

    model: BaseDetector
    schema: DataSchema
    model_path: Path | None
    fit_seconds: float
    n_rows: int
    trained_on: str


@dataclass
class DetectionResult:
    """What ``score_file`` / ``run_detection`` produced."""

    scores: np.ndarray
    predictions: np.ndarray
    threshold: float
    scores_csv: Path
    plot_png: Path
    intervals_csv: Path
    intervals: list[AlertInterval]
    fit_seconds: float
    score_seconds: float
    trained_on: str
    metrics: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    detector: str = ""


# ------------------------------------------------------------------------------------------------ fit
def fit_loaded(
    data: SeriesData, detector: str, *, params: dict[str, Any] | None = None, fill: str = "none", source: str = ""
) -> FitResult:
    """Fit ``detector`` on a loaded series (its test part: a generic file has no split)."""
    from anomalyforge.core.registry import make_detector

    model = make_detector(detector, **(params or {}))
    t0 = time.perf_counter()
    model.fit(data.test)
    return FitResult(model, DataSchema.of(data, fill), None, time.perf_counter() - t0, len(data.test), source)


def fit_model(
    train_path: str | Path,
    detector: str,
    out: str | Path,
    *,
    params: dict[str, Any] | None = None,
    fill: str = "none",
    key: bytes | None = None,
) -> FitResult:
    """Fit ``detector`` on the CSV/Parquet file ``train_path`` (its labels ignored) and save it to ``out``.

    The model file's metadata holds ``{"data_schema": DataSchema.to_json(), "trained_on": path,
    "training_rows": n}``; with ``key`` the file is signed (``core.persistence``).
    """
    from anomalyforge.datasets.generic import load_generic

    data = load_generic(train_path, fill=fill)  # type: ignore[arg-type]
    result = fit_loaded(data, detector, params=params, fill=fill, source=str(train_path))
    result.model_path = save_fitted(result, out, key=key)
    return result


def save_fitted(result: FitResult, out: str | Path, *, key: bytes | None = None) -> Path:
    """Save a fitted model with its data schema (signed with ``key`` when given)."""
    metadata = {"data_schema": result.schema.to_json(), "trained_on": result.trained_on,
                "training_rows": result.n_rows}  # fmt: skip
    return result.model.save(out, metadata=metadata, key=key)


def load_fitted(
    model_path: str | Path, *, key: bytes | None = None
) -> tuple[BaseDetector, DataSchema, dict[str, Any]]:
    """Read a model saved by ``fit`` (or ``detect --save-model``): the detector, its schema, the metadata.

    Args:
        model_path: the model file.
        key: require a valid signature with this key (``core.persistence``).

    Raises:
        FileNotFoundError / ValueError: no such file, not a model file, not a detector, no data schema; with
            ``key``: unsigned, signed with another key, modified after signing.
    """
    from anomalyforge.core.persistence import load_model

    model, metadata = load_model(model_path, with_metadata=True, key=key)
    if not isinstance(model, BaseDetector):
        raise ValueError(f"{model_path} holds a {type(model).__name__}, not a detector; pass a model written by fit")
    if "data_schema" not in metadata:
        raise ValueError(
            f"{model_path} has no data schema (it was saved from Python, not by `anomalyforge fit`); "
            "fit it with `anomalyforge fit` to score files with it"
        )
    return model, DataSchema.from_json(metadata["data_schema"], str(model_path)), metadata


# ---------------------------------------------------------------------------------------------- score
def read_scored_file(path: str | Path, schema: DataSchema, fill: str | None = None) -> tuple[SeriesData, list[str]]:
    """Load a file to score with a model of this schema: columns checked by name, put in the fitted order.

    Returns:
        the loaded series and the notices (a reordering).
    """
    from anomalyforge.datasets.generic import load_generic, read_columns, split_columns

    columns = read_columns(path)
    timestamp = schema.timestamp_column if schema.timestamp_column in columns else None
    _, _, channels = split_columns(columns, timestamp_column=timestamp, where=path)
    order, notice = schema.order_of(channels, str(path))
    data = load_generic(path, channels=order, timestamp_column=timestamp, fill=fill or schema.fill)  # type: ignore[arg-type]
    return data, [notice] if notice else []


def peak_p_values(model: BaseDetector, scores: np.ndarray) -> np.ndarray | None:
    """Calibrated p-values of scores against the model's held-out training scores (in-sample ones when the
    training series was too short to hold any out; None if it kept none)."""
    reference = model.threshold_reference() if hasattr(model, "train_scores_") else None
    if reference is None or len(reference) == 0:
        return None
    return calibrated_p_values(scores, reference)


def attribute_intervals(
    model: BaseDetector, X: np.ndarray, intervals: list[AlertInterval], channels: Sequence[str], k: int = 3
) -> np.ndarray:
    """Fill ``top_channels`` (``k`` names) of the ``MAX_INTERVALS_LISTED`` intervals with the highest peaks.

    The others keep an empty list, which bounds the cost on a series with many alerts.

    Returns:
        (C,) the summed channel attribution over those intervals (what the plot ranks channels by).
    """
    from anomalyforge.apps.plotting import MAX_INTERVALS_LISTED
    from anomalyforge.core.attribution import channel_attribution, top_channels

    weights = np.zeros(X.shape[1])
    for iv in sorted(intervals, key=lambda r: -r.peak_score)[:MAX_INTERVALS_LISTED]:
        share = channel_attribution(model, X, iv.start, iv.end)
        iv.top_channels = [str(channels[c]) for c in top_channels(share, k)]
        weights += share
    return weights


def write_outputs(
    model: BaseDetector,
    data: SeriesData,
    out_dir: str | Path,
    *,
    name: str,
    title: str,
    max_gap: int = 0,
    min_length: int = 1,
    log_score: bool = False,
    n_top_channels: int = 3,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Score ``data.test`` with a fitted model and write scores.csv, plot.png, intervals.csv, metrics.json.

    The ``MAX_INTERVALS_LISTED`` intervals with the highest peaks get their ``n_top_channels`` channels by
    attribution (``core.attribution.channel_attribution``; the others keep an empty list, which bounds the
    cost on a series with many alerts), and the plot draws the channels with the most attribution over them.

    Returns:
        the scores and a dict of what was written (paths, predictions, intervals, metrics, seconds).
    """
    from anomalyforge.apps.plotting import plot_scores

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    scores = model.anomaly_score(data.test)
    score_seconds = time.perf_counter() - t0
    threshold = float(model.threshold_)
    predictions = (scores > threshold).astype(np.int8)
    timestamps = data.meta.get("test_timestamps")
    table = pd.DataFrame({"step": np.arange(len(scores))})
    if timestamps is not None:
        table["timestamp"] = timestamps
    table["score"] = scores
    table["prediction"] = predictions
    has_labels = bool(data.meta.get("has_labels"))
    if has_labels:
        table["label"] = data.labels
    scores_csv = out / "scores.csv"
    table.to_csv(scores_csv, index=False)
    intervals = flag_intervals(
        predictions, scores, max_gap=max_gap, min_length=min_length,
        timestamps=None if timestamps is None else [str(t) for t in timestamps],
        p_values=peak_p_values(model, scores),
    )  # fmt: skip
    weights = attribute_intervals(model, data.test, intervals, data.channels, n_top_channels)
    intervals_csv = out / "intervals.csv"
    pd.DataFrame([iv.as_row() for iv in intervals], columns=list(INTERVAL_COLUMNS)).to_csv(intervals_csv, index=False)
    plot_png = plot_scores(
        data.test,
        {name: scores},
        out / "plot.png",
        labels=data.labels if has_labels else None,
        flagged=predictions,
        threshold=threshold,
        channel_names=data.channels,
        title=title,
        timestamps=timestamps,
        intervals=intervals,
        channel_weights=weights,
        log_score=log_score,
    )
    metrics: dict[str, float] = {}
    if has_labels and data.labels.any() and not data.labels.all():
        from anomalyforge.metrics import estimate_sliding_window, evaluate

        window = estimate_sliding_window(data.test)  # TSB-AD's protocol: the series' period, not its labels
        metrics = {k: float(v) for k, v in evaluate(data.labels, scores, sliding_window=window).items()}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return scores, {
        "predictions": predictions, "threshold": threshold, "scores_csv": scores_csv, "plot_png": plot_png,
        "intervals_csv": intervals_csv, "intervals": intervals, "metrics": metrics, "score_seconds": score_seconds,
        "notices": flag_rate_notices(model, predictions),
    }  # fmt: skip


def flag_rate_notices(model: BaseDetector, predictions: np.ndarray) -> list[str]:
    """A warning when far more steps are flagged than the threshold was set for.

    The threshold flags about ``contamination`` of the training scores; flagging over 5 times that (and over
    10 % of the steps) means the scored data differ from the training data, or the training scores were
    in-sample and optimistic, and the flags should not be trusted as they are.
    """
    expected = getattr(model, "contamination", None)
    rate = float(np.mean(predictions)) if len(predictions) else 0.0
    if not isinstance(expected, int | float) or expected <= 0 or rate <= max(5 * expected, 0.10):
        return []
    return [
        f"{100 * rate:.0f} % of the steps are flagged, {rate / expected:.0f} times the contamination "
        f"({expected:g}) the threshold was set for on the training scores: the scored data differ from the "
        "training data (or the training part is not normal); check the training file, or set the threshold "
        "with --param contamination=..."
    ]


def score_file(
    model_path: str | Path,
    series_path: str | Path,
    out_dir: str | Path,
    *,
    fill: str | None = None,
    max_gap: int = 0,
    min_length: int = 1,
    log_score: bool = False,
    n_top_channels: int = 3,
) -> DetectionResult:
    """Score a CSV/Parquet file with a model saved by ``fit``; writes what ``detect`` writes.

    Args:
        model_path: the ``.safetensors`` file written by ``fit``.
        series_path: the file to score; its channel columns must be the fitted ones (any order).
        out_dir: output folder.
        fill: missing-value option (default: the one the model was fitted with).
        max_gap, min_length: the alert merge rule (``core.intervals``).
    """
    model, schema, metadata = load_fitted(model_path)
    data, notices = read_scored_file(series_path, schema, fill)
    name = model.registry_name or type(model).__name__
    scores, written = write_outputs(
        model, data, out_dir, name=name, title=f"{Path(series_path).name}: {name}", max_gap=max_gap,
        min_length=min_length, log_score=log_score, n_top_channels=n_top_channels,
    )  # fmt: skip
    return DetectionResult(
        scores=scores, fit_seconds=0.0, trained_on=str(metadata.get("trained_on", "?")),
        notices=notices + written["notices"], detector=name,
        **{k: written[k] for k in ("predictions", "threshold", "scores_csv", "plot_png", "intervals_csv",
                                   "intervals", "metrics", "score_seconds")},
    )  # fmt: skip
