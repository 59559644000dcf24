"""What the forest sees of a window: its raw values or a few statistics per channel.

Both layouts put channel ``c`` of a window with C channels at the feature indices ``f`` with ``f % C == c``,
so per-feature explanations are summed per channel with one ``bincount``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEATURE_SETS", "window_features", "feature_channels", "SUMMARY_STATISTICS"]

FEATURE_SETS = ("raw", "summary")
#: The statistics of ``features="summary"``, in order, each per channel.
SUMMARY_STATISTICS = ("mean", "std", "min", "max", "last_minus_first", "mean_abs_diff")


def window_features(windows: np.ndarray, kind: str) -> np.ndarray:
    """(b, window, C) windows -> (b, n_features) vectors; NaN values stay NaN (or make a statistic NaN).

    ``"raw"``: the window flattened time-major (feature ``i * C + c`` is step i of channel c).
    ``"summary"``: per channel, the statistics of ``SUMMARY_STATISTICS`` (feature ``s * C + c``), NaN-aware:
    a statistic ignores missing steps and is NaN only when too few steps are present.
    """
    b, _, c = windows.shape
    if kind == "raw":
        return windows.reshape(b, -1)
    if kind != "summary":
        raise ValueError(f"features={kind!r} is not a feature set; choose one of {', '.join(FEATURE_SETS)}")
    if not np.isnan(windows).any():
        diffs = np.abs(np.diff(windows, axis=1))
        stats = [windows.mean(1), windows.std(1), windows.min(1), windows.max(1),
                 windows[:, -1] - windows[:, 0], diffs.mean(1) if diffs.shape[1] else np.zeros((b, c))]  # fmt: skip
        return np.concatenate(stats, axis=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, which the forest handles
        diffs = np.abs(np.diff(windows, axis=1))
        present = ~np.isnan(windows)
        first = np.take_along_axis(windows, present.argmax(axis=1)[:, None], axis=1)[:, 0]
        last = np.take_along_axis(windows, (windows.shape[1] - 1 - present[:, ::-1].argmax(axis=1))[:, None], 1)[:, 0]
        stats = [np.nanmean(windows, 1), np.nanstd(windows, 1), np.nanmin(windows, 1), np.nanmax(windows, 1),
                 last - first, np.nanmean(diffs, 1) if diffs.shape[1] else np.zeros((b, c))]  # fmt: skip
    return np.concatenate(stats, axis=1)


def feature_channels(n_features: int, n_channels: int) -> np.ndarray:
    """(n_features,) the channel each feature belongs to (``f % n_channels`` in both layouts)."""
    return np.arange(n_features, dtype=np.int64) % n_channels
