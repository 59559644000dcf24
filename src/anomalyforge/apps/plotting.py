"""Plots a person reads: the channels as small multiples, the scores, flagged intervals and labels shaded, and
the flagged intervals listed under the figure (matplotlib, no display needed).

With more than ``max_channels`` channels only the top ones are drawn, ranked by ``channel_weights`` (in
``detect``: the channel attribution over the flagged intervals), each in its own panel with its name.
Intervals come as a plain list: ``(start, end, peak, top_channel_names)`` tuples, dicts with those keys
(``top_channels`` for the names), or objects with those attributes; ``end`` is inclusive.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from anomalyforge.datasets.base import labels_to_ranges  # noqa: E402

__all__ = ["plot_scores", "merge_flagged", "interval_rows"]

MAX_CHANNELS_SHOWN = 8
MAX_POINTS = 20_000
MAX_INTERVALS_LISTED = 12


def merge_flagged(flagged: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """Runs of consecutive flagged steps as ``{"start", "end" (inclusive), "peak", "top_channels": []}``: the
    intervals of ``core.intervals.flag_intervals`` (its merge rule with ``max_gap=0``), as plot rows."""
    from anomalyforge.core.intervals import flag_intervals

    return interval_rows(flag_intervals(np.asarray(flagged).reshape(-1), np.asarray(scores, dtype=np.float64)))


def interval_rows(intervals: Sequence[Any]) -> list[dict[str, Any]]:
    """Intervals given as tuples, dicts or objects (``core.intervals.AlertInterval`` too: its ``peak_score``
    is the peak) -> dicts with start, end (inclusive), peak, top_channels."""
    rows = []
    for item in intervals:
        if isinstance(item, Mapping):
            get = item.get
        elif isinstance(item, tuple | list):
            values = dict(zip(("start", "end", "peak", "top_channels"), item, strict=False))
            get = values.get
        else:
            def get(key: str, default: Any = None, item: Any = item) -> Any:
                return getattr(item, key, default)
        top = get("top_channels", None) or get("top_channel_names", None) or []
        peak = get("peak", None)
        peak = get("peak_score", None) if peak is None else peak
        rows.append({"start": int(get("start")), "end": int(get("end")),
                     "peak": None if peak is None else float(peak), "top_channels": [str(t) for t in top]})  # fmt: skip
    return rows


def _time_axis(n: int, timestamps: Sequence[Any] | None) -> tuple[np.ndarray, bool]:
    """x values: parsed timestamps when every one parses, else the step index."""
    if timestamps is not None and len(timestamps) == n:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "could not infer format": parsed one by one
                parsed = pd.to_datetime(pd.Series(timestamps), errors="coerce")
        except (TypeError, ValueError, OverflowError):
            parsed = None
        if parsed is not None and not parsed.isna().any():
            return parsed.to_numpy(), True
    return np.arange(n), False


def _shade(ax: plt.Axes, mask: np.ndarray, x: np.ndarray, color: str, label: str, alpha: float) -> None:
    for i, (start, end) in enumerate(labels_to_ranges(mask.astype(np.int8))):
        ax.axvspan(x[start], x[min(end, len(x)) - 1], color=color, alpha=alpha, lw=0, label=label if i == 0 else None)


def _when(i: int, x: np.ndarray, is_time: bool) -> str:
    return f"{i} ({pd.Timestamp(x[i]).strftime('%Y-%m-%d %H:%M:%S')})" if is_time else str(i)


def _listing(rows: list[dict[str, Any]], x: np.ndarray, is_time: bool) -> list[str]:
    """Text lines for the flagged intervals: the highest peaks first chosen, shown in time order."""
    if not rows:
        return ["flagged intervals: none"]
    chosen = sorted(rows, key=lambda r: -(r["peak"] if r["peak"] is not None else -np.inf))[:MAX_INTERVALS_LISTED]
    chosen.sort(key=lambda r: r["start"])
    more = len(rows) - len(chosen)
    head = f"flagged intervals: {len(rows)}" + (f" (the {len(chosen)} with the highest peaks listed)" if more else "")
    lines = [head]
    for r in chosen:
        peak = "" if r["peak"] is None else f"peak {r['peak']:.4g}   "
        top = f"top channels: {', '.join(r['top_channels'])}" if r["top_channels"] else ""
        lines.append(f"  {_when(r['start'], x, is_time)} – {_when(r['end'], x, is_time)}   "
                     f"{r['end'] - r['start'] + 1} steps   {peak}{top}")  # fmt: skip
    return lines


def plot_scores(
    series: np.ndarray,
    scores: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    labels: np.ndarray | None = None,
    flagged: np.ndarray | None = None,
    threshold: float | None = None,
    channel_names: list[str] | None = None,
    title: str = "",
    timestamps: Sequence[Any] | None = None,
    intervals: Sequence[Any] | None = None,
    channel_weights: np.ndarray | None = None,
    log_score: bool = False,
    max_channels: int = MAX_CHANNELS_SHOWN,
) -> Path:
    """Save a figure: one small panel per channel, one panel of scores per detector, the intervals listed.

    Args:
        series: (n, C) series; all channels are drawn when C <= ``max_channels``, else the top
            ``max_channels`` by ``channel_weights`` (the first ones when no weights are given).
        scores: detector name -> (n,) scores.
        path: PNG file to write.
        labels: optional (n,) 0/1 true labels, shaded grey in every panel.
        flagged: optional (n,) 0/1 predictions, shaded red in every panel.
        threshold: optional threshold drawn as a line when one detector is plotted.
        channel_names: names of the channels (default ch0, ch1, ...).
        title: figure title.
        timestamps: optional (n,) timestamps for the x axis (used when they all parse as dates).
        intervals: flagged intervals to list under the plot (see the module docstring); default: the runs of
            ``flagged`` (without top channels).
        channel_weights: (C,) importance of each channel, e.g. attribution over the flagged steps.
        log_score: logarithmic score axis (symmetric-log when some score is <= 0).
        max_channels: most channel panels drawn.

    Returns:
        the path written.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    n, C = series.shape
    names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(C)]
    x_full, is_time = _time_axis(n, timestamps)
    if intervals is None:
        first = next(iter(scores.values()), None) if len(scores) == 1 else None
        rows = merge_flagged(flagged, first if first is not None else np.zeros(n)) if flagged is not None else []
    else:
        rows = interval_rows(intervals)
    if C > max_channels and channel_weights is not None and np.any(np.asarray(channel_weights) > 0):
        shown = np.argsort(-np.asarray(channel_weights, dtype=np.float64), kind="stable")[:max_channels]
        note = f"top {max_channels} of {C} channels by attribution over the flagged steps"
    else:
        shown = np.arange(min(C, max_channels))
        note = f"first {max_channels} of {C} channels" if C > max_channels else f"{C} channel{'s' * (C > 1)}"
    step = max(1, n // MAX_POINTS)  # decimate very long series for drawing only
    x = x_full[::step]
    listing = _listing(rows, x_full, is_time)
    n_lines = len(listing)
    heights = [1.0] * len(shown) + [2.0] * len(scores)
    fig_h = 0.9 * len(shown) + 1.8 * len(scores) + 0.9 + 0.17 * n_lines
    fig = plt.figure(figsize=(13, fig_h))
    text_share = (0.17 * n_lines + 0.3) / fig_h
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.08,
                            top=1 - 0.55 / fig_h, bottom=text_share + 0.45 / fig_h, left=0.12, right=0.98)  # fmt: skip
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    flag = None if flagged is None else np.asarray(flagged)[::step] > 0
    lab = None if labels is None else np.asarray(labels)[::step] > 0
    for ax, c in zip(axes, shown, strict=False):
        ax.plot(x, series[::step, c], lw=0.6, color="tab:blue")
        ax.set_ylabel(names[c], rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="y", nbins=2)
    for ax, (name, s) in zip(axes[len(shown):], scores.items(), strict=True):
        s = np.asarray(s, dtype=np.float64)
        ax.plot(x, s[::step], lw=0.7, color="black")
        ax.set_ylabel(f"score\n{name}", rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        if log_score:
            if (s > 0).all():
                ax.set_yscale("log")
            else:
                ax.set_yscale("symlog", linthresh=max(float(np.quantile(np.abs(s), 0.5)), 1e-12))
        if threshold is not None and len(scores) == 1:
            ax.axhline(threshold, color="tab:red", lw=0.8, ls="--", label=f"threshold {threshold:.4g}")
    for ax in axes:
        if flag is not None and flag.any():
            _shade(ax, flag, x, "tab:red", "flagged", 0.2)
        if lab is not None and lab.any():
            _shade(ax, lab, x, "grey", "label", 0.3)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    handles, texts = axes[-1].get_legend_handles_labels()
    if handles:
        axes[-1].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time" if is_time else "time step", fontsize=8)
    axes[0].set_title((title + "  —  " if title else "") + note, fontsize=9)
    fig.text(0.01, text_share, "\n".join(listing), family="monospace", fontsize=7, va="top", ha="left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
