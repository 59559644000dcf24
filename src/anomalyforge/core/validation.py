"""Input validation, sliding windows and the window -> time-step score mapping.

Every public entry point of the package validates its input here, so that a bad series fails early with a
message that names the problem and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d
from sklearn.exceptions import NotFittedError

__all__ = [
    "NotFittedError",
    "check_series",
    "check_windows",
    "check_is_fitted",
    "check_channels",
    "standardiser",
    "window_starts",
    "sliding_windows",
    "windows_to_timesteps",
    "batched",
]


def _to_array(X: Any, name: str) -> np.ndarray:
    if hasattr(X, "to_numpy"):  # pandas DataFrame / Series
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} contains non-numeric values (dtype {arr.dtype}); convert or drop those columns first"
            ) from exc
    return arr.astype(np.float64, copy=False)


def _check_finite(arr: np.ndarray, name: str) -> None:
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    n_nan = int(np.isnan(arr).sum())
    n_inf = int((~finite).sum()) - n_nan
    first = tuple(int(i) for i in bad[0])
    raise ValueError(
        f"{name} contains {n_nan} NaN and {n_inf} infinite values (first at index {first}); "
        "fill or drop them before fitting (e.g. pandas .ffill()), or use a detector whose tags allow NaN"
    )


def check_series(
    X: Any,
    *,
    name: str = "X",
    min_length: int = 1,
    allow_nan: bool = False,
) -> np.ndarray:
    """Validate a time series and return it as a float64 array of shape (n_timesteps, n_channels).

    Args:
        X: array-like of shape (n_timesteps,) or (n_timesteps, n_channels); a pandas object is accepted.
        name: name used in error messages.
        min_length: the smallest number of time steps accepted.
        allow_nan: if False, NaN or infinite values raise ``ValueError``.

    Returns:
        float64 array of shape (n_timesteps, n_channels); 1-D input becomes one channel.

    Raises:
        ValueError: empty, wrong dimensionality, non-numeric, too short or non-finite input.
    """
    arr = _to_array(X, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (n_timesteps,) or 2-D (n_timesteps, n_channels); got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one time step and one channel")
    if arr.shape[0] < min_length:
        raise ValueError(
            f"{name} has {arr.shape[0]} time steps, at least {min_length} are needed "
            "(pass a longer series or a smaller window)"
        )
    if not allow_nan:
        _check_finite(arr, name)
    return arr


def check_windows(W: Any, *, name: str = "windows") -> np.ndarray:
    """Validate a batch of windows and return float64 (n_windows, window, n_channels).

    2-D input (n_windows, window) means one channel.
    """
    arr = _to_array(W, name)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"{name} must have shape (n_windows, window, n_channels); got {arr.shape}")
    _check_finite(arr, name)
    return arr


def check_is_fitted(estimator: Any, attribute: str = "n_channels_in_") -> None:
    """Raise ``NotFittedError`` unless ``estimator`` has been fitted."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} is not fitted yet; call fit(X) before using it"
        )


def check_channels(X: np.ndarray, n_expected: int, owner: str = "the detector") -> None:
    """Raise a clear ``ValueError`` when X's channel count differs from the fitted one."""
    if X.shape[1] != n_expected:
        raise ValueError(f"X has {X.shape[1]} channels, {owner} was fitted on {n_expected}")


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of X (n, C); constant channels get std 1.

    Constant channels are kept: with std 1 they add nothing to a distance but never divide by zero.
    """
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return mean, np.where(std > 1e-12, std, 1.0)


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


def sliding_windows(X: np.ndarray, window: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a series as a zero-copy view.

    Args:
        X: (n_timesteps, n_channels) array.
        window: window length.
        stride: step between window starts.

    Returns:
        ``(windows, starts)``: windows of shape (n_windows, window, n_channels) (a read-only view: index
        batches of it and copy only the batch, so 100k-step series never materialise all windows) and
        their start indices (n_windows,).
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    starts = window_starts(X.shape[0], window, stride)
    view = sliding_window_view(X, window, axis=0)  # (n - window + 1, C, window)
    return view[starts].transpose(0, 2, 1) if stride != 1 else view.transpose(0, 2, 1), starts


def windows_to_timesteps(
    window_scores: np.ndarray,
    starts: np.ndarray,
    window: int,
    n_timesteps: int,
    how: Literal["max", "mean"] = "max",
) -> np.ndarray:
    """Map one score per window back to one score per time step.

    Each step gets the maximum (``how="max"``) or the mean (``how="mean"``) of the scores of every window
    that contains it. ``max`` keeps a short anomaly's peak visible in every step the anomalous window
    covers; ``mean`` gives smoother scores. Windows must cover every step (``window_starts`` guarantees it).

    Args:
        window_scores: (n_windows,) scores.
        starts: (n_windows,) start index of each window.
        window: window length.
        n_timesteps: length of the scored series.
        how: "max" or "mean".

    Returns:
        float64 array of shape (n_timesteps,).
    """
    window_scores = np.asarray(window_scores, dtype=np.float64).ravel()
    starts = np.asarray(starts, dtype=np.int64).ravel()
    if window_scores.shape != starts.shape:
        raise ValueError(f"{window_scores.shape[0]} window scores for {starts.shape[0]} window starts")
    if how == "max":
        by_start = np.full(n_timesteps, -np.inf)
        np.maximum.at(by_start, starts, window_scores)
        # step t is covered by windows starting in [t - window + 1, t]: a trailing running maximum.
        out = maximum_filter1d(by_start, size=window, origin=(window - 1) // 2, mode="constant", cval=-np.inf)
    elif how == "mean":
        total = np.zeros(n_timesteps + 1)
        count = np.zeros(n_timesteps + 1)
        np.add.at(total, starts, window_scores)
        np.add.at(total, starts + window, -window_scores)
        np.add.at(count, starts, 1.0)
        np.add.at(count, starts + window, -1.0)
        total, count = np.cumsum(total)[:-1], np.cumsum(count)[:-1]
        out = np.where(count > 0, total / np.maximum(count, 1), -np.inf)
    else:
        raise ValueError(f"how must be 'max' or 'mean', got {how!r}")
    if not np.isfinite(out).all():
        missing = int((~np.isfinite(out)).sum())
        raise ValueError(f"{missing} time steps are covered by no window; windows must cover the series")
    return out


def batched(n: int, batch_size: int) -> Iterator[slice]:
    """Slices covering ``range(n)`` in chunks of ``batch_size`` (torch-free; ``nn.training`` re-exports it)."""
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))
