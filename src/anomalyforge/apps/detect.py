"""Run one detector on a CSV/Parquet series and write its scores and a plot (``anomalyforge detect``).

``detect`` is ``fit`` + ``score`` in one run (``apps.fitscore``): the same fitting, the same checks of the
scored file against the training file's columns, the same outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from anomalyforge.apps.fitscore import DetectionResult, fit_loaded, read_scored_file, save_fitted, write_outputs
from anomalyforge.datasets.generic import load_generic

__all__ = ["DetectionResult", "run_detection"]


def run_detection(
    series_path: str | Path,
    detector: str,
    out_dir: str | Path,
    *,
    train_path: str | Path | None = None,
    params: dict[str, Any] | None = None,
    fill: str = "none",
    save_model: bool = False,
    max_gap: int = 0,
    min_length: int = 1,
    progress: bool = True,
    log_score: bool = False,
    n_top_channels: int = 3,
) -> DetectionResult:
    """Fit ``detector`` and score every step of the series in ``series_path``.

    The detector is fitted on ``train_path`` when given (its labels, if any, are ignored), otherwise on the
    scored series itself (plain unsupervised use; a clean training part gives better scores). Writes
    ``out_dir/scores.csv`` (step, timestamp if the file has one, score, prediction, label if the file has
    one), ``out_dir/intervals.csv`` (alerts), ``out_dir/plot.png``, ``out_dir/metrics.json`` with labels;
    with ``save_model`` also ``out_dir/model.safetensors`` (with its data schema, for ``score``/``stream``).
    The ``MAX_INTERVALS_LISTED`` intervals with the highest peaks get their ``n_top_channels`` channels by
    attribution (``core.attribution``), and the plot draws the channels that matter most over them.

    Returns:
        the scores, 0/1 predictions, threshold, alert intervals, output paths, timings and (with labels) the
        metrics.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=4, desc="detect", unit="stage", disable=not progress)
    bar.set_postfix_str("loading")
    train = load_generic(train_path if train_path else series_path, fill=fill)  # type: ignore[arg-type]
    bar.update()
    bar.set_postfix_str(f"fitting {detector}")
    fitted = fit_loaded(train, detector, params=params, fill=fill, source=str(train_path or series_path))
    notices = [str(train.meta["notice"])] if train.meta.get("notice") else []
    if train_path:
        data, more = read_scored_file(series_path, fitted.schema, fill)
        notices += more
    else:
        data = train
    bar.update()
    bar.set_postfix_str("scoring")
    scores, written = write_outputs(
        fitted.model, data, out, name=detector, title=f"{Path(series_path).name}: {detector}", max_gap=max_gap,
        min_length=min_length, log_score=log_score, n_top_channels=n_top_channels,
    )  # fmt: skip
    bar.update()
    if save_model:
        save_fitted(fitted, out / "model.safetensors")
    bar.update()
    bar.close()
    return DetectionResult(
        scores=scores, fit_seconds=fitted.fit_seconds, notices=notices + written["notices"],
        trained_on=str(train_path) if train_path else "the scored series itself",
        **{k: written[k] for k in ("predictions", "threshold", "scores_csv", "plot_png", "intervals_csv",
                                   "intervals", "metrics", "score_seconds")},
    )  # fmt: skip
