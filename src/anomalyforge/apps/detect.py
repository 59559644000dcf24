"""Run one detector on a CSV/Parquet series and write its scores and a plot (``anomalyforge detect``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from anomalyforge.apps.plotting import MAX_INTERVALS_LISTED, merge_flagged, plot_scores
from anomalyforge.core.attribution import channel_attribution, top_channels
from anomalyforge.core.registry import make_detector
from anomalyforge.datasets.generic import load_generic

__all__ = ["DetectionResult", "run_detection"]


@dataclass
class DetectionResult:
    """What ``run_detection`` produced."""

    scores: np.ndarray
    predictions: np.ndarray
    threshold: float
    scores_csv: Path
    plot_png: Path
    fit_seconds: float
    score_seconds: float
    trained_on: str
    metrics: dict[str, float] = field(default_factory=dict)
    intervals: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def run_detection(
    series_path: str | Path,
    detector: str,
    out_dir: str | Path,
    *,
    train_path: str | Path | None = None,
    params: dict[str, Any] | None = None,
    fill: str = "none",
    save_model: bool = False,
    progress: bool = True,
    log_score: bool = False,
    n_top_channels: int = 3,
) -> DetectionResult:
    """Fit ``detector`` and score every step of the series in ``series_path``.

    The detector is fitted on ``train_path`` when given (its labels, if any, are ignored), otherwise on the
    scored series itself (plain unsupervised use; a clean training part gives better scores). Writes
    ``out_dir/scores.csv`` (step, timestamp if the file has one, score, prediction, label if the file has
    one) and ``out_dir/plot.png``; with ``save_model`` also ``out_dir/model.safetensors``. Runs of flagged
    steps are the intervals; the ``MAX_INTERVALS_LISTED`` with the highest peaks get their ``n_top_channels``
    channels by attribution (``core.attribution``), and the plot draws the channels that matter most over them.

    Returns:
        the scores, 0/1 predictions, threshold, output paths, timings and (with labels) the metrics.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = ["load", "fit", "score", "write"]
    bar = tqdm(total=len(steps), desc="detect", unit="stage", disable=not progress)
    bar.set_postfix_str("loading")
    data = load_generic(series_path, fill=fill)  # type: ignore[arg-type]
    notices = [str(data.meta["notice"])] if data.meta.get("notice") else []
    if train_path:
        train_data = load_generic(train_path, fill=fill)  # type: ignore[arg-type]
        notices += [str(train_data.meta["notice"])] if train_data.meta.get("notice") else []
        train = train_data.test
    else:
        train = data.test
    bar.update()
    bar.set_postfix_str(f"fitting {detector}")
    model = make_detector(detector, **(params or {}))
    t0 = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - t0
    bar.update()
    bar.set_postfix_str("scoring")
    t0 = time.perf_counter()
    scores = model.anomaly_score(data.test)
    score_seconds = time.perf_counter() - t0
    predictions = (scores > model.threshold_).astype(np.int8)
    bar.update()
    bar.set_postfix_str("writing")
    table = pd.DataFrame({"step": np.arange(len(scores))})
    if "test_timestamps" in data.meta:
        table["timestamp"] = data.meta["test_timestamps"]
    table["score"] = scores
    table["prediction"] = predictions
    has_labels = bool(data.meta.get("has_labels"))
    if has_labels:
        table["label"] = data.labels
    scores_csv = out / "scores.csv"
    table.to_csv(scores_csv, index=False)
    intervals = merge_flagged(predictions, scores)  # a plain local merge of consecutive flagged steps
    weights = np.zeros(data.test.shape[1])
    for item in sorted(intervals, key=lambda r: -r["peak"])[:MAX_INTERVALS_LISTED]:
        share = channel_attribution(model, data.test, item["start"], item["end"])
        item["top_channels"] = [data.channels[c] for c in top_channels(share, n_top_channels)]
        weights += share
    plot_png = plot_scores(
        data.test,
        {detector: scores},
        out / "plot.png",
        labels=data.labels if has_labels else None,
        flagged=predictions,
        threshold=model.threshold_,
        channel_names=data.channels,
        title=f"{Path(series_path).name}: {detector}",
        timestamps=data.meta.get("test_timestamps"),
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
    if save_model:
        model.save(out / "model.safetensors")
    bar.update()
    bar.close()
    return DetectionResult(
        scores=scores,
        predictions=predictions,
        threshold=float(model.threshold_),
        scores_csv=scores_csv,
        plot_png=plot_png,
        fit_seconds=fit_seconds,
        score_seconds=score_seconds,
        trained_on=str(train_path) if train_path else "the scored series itself",
        metrics=metrics,
        intervals=intervals,
        notices=notices,
    )
