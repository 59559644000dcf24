"""Plots of a series with anomaly scores, flagged regions and labels (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from anomalyforge.datasets.base import labels_to_ranges  # noqa: E402

__all__ = ["plot_scores"]

MAX_CHANNELS_SHOWN = 8
MAX_POINTS = 20_000


def _shade(ax: plt.Axes, mask: np.ndarray, x: np.ndarray, color: str, label: str, alpha: float) -> None:
    for i, (start, end) in enumerate(labels_to_ranges(mask.astype(np.int8))):
        ax.axvspan(x[start], x[min(end, len(x)) - 1], color=color, alpha=alpha, lw=0, label=label if i == 0 else None)


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
) -> Path:
    """Save a figure: the series (top), then one panel of scores per detector, labels shaded.

    Args:
        series: (n, C) series; at most 8 channels are drawn (standardised, offset for readability).
        scores: detector name -> (n,) scores.
        path: PNG file to write.
        labels: optional (n,) 0/1 true labels, shaded grey in every panel.
        flagged: optional (n,) 0/1 predictions, shaded red in the score panels.
        threshold: optional threshold drawn as a line when one detector is plotted.
        channel_names: names of the channels for the legend.
        title: figure title.

    Returns:
        the path written.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    n = series.shape[0]
    step = max(1, n // MAX_POINTS)  # decimate very long series for drawing only
    x = np.arange(n)[::step]
    fig, axes = plt.subplots(
        1 + len(scores), 1, figsize=(12, 2.2 + 1.6 * len(scores)), sharex=True, squeeze=False
    )
    axes = axes[:, 0]
    shown = series[::step, :MAX_CHANNELS_SHOWN]
    std = shown.std(axis=0)
    z = (shown - shown.mean(axis=0)) / np.where(std > 0, std, 1.0)
    names = channel_names or [f"ch{i}" for i in range(series.shape[1])]
    for c in range(z.shape[1]):
        axes[0].plot(x, z[:, c] + 3.0 * c, lw=0.6, label=names[c])
    axes[0].set_ylabel("series (z, offset)")
    extra = series.shape[1] - z.shape[1]
    axes[0].set_title(title + (f"  (first {z.shape[1]} of {series.shape[1]} channels)" if extra > 0 else ""))
    if z.shape[1] <= 8:
        axes[0].legend(loc="upper right", fontsize=6, ncol=min(4, z.shape[1]))
    lab = None if labels is None else np.asarray(labels)[::step] > 0
    for ax, (name, s) in zip(axes[1:], scores.items(), strict=True):
        ax.plot(x, np.asarray(s)[::step], lw=0.7, color="tab:blue")
        ax.set_ylabel(name, fontsize=8)
        if threshold is not None and len(scores) == 1:
            ax.axhline(threshold, color="tab:red", lw=0.8, ls="--", label="threshold")
        if flagged is not None and len(scores) == 1:
            _shade(ax, np.asarray(flagged)[::step] > 0, x, "tab:red", "flagged", 0.25)
    if lab is not None and lab.any():
        for ax in axes:
            _shade(ax, lab, x, "grey", "label", 0.3)
    handles = [h for ax in axes[1:] for h in ax.get_legend_handles_labels()[0]]
    if handles:
        axes[-1].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
