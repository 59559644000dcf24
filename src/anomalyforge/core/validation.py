"""Input validation: series, windows, fitted state, channel counts and declared parameter constraints.

Every public entry point of the package validates its input here, so that a bad series fails early with a
message that names the problem and what to do about it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

__all__ = [
    "NotFittedError",
    "check_series",
    "check_windows",
    "check_is_fitted",
    "check_channels",
    "Interval",
    "Options",
    "validate_params",
    "TRAINING_CONSTRAINTS",
    "training_constraints",
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
        raise ValueError(f"{name} must be 1-D (n_timesteps,) or 2-D (n_timesteps, n_channels); got shape {arr.shape}")
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
        raise NotFittedError(f"This {type(estimator).__name__} is not fitted yet; call fit(X) before using it")


def check_channels(X: np.ndarray, n_expected: int, owner: str = "the detector") -> None:
    """Raise a clear ``ValueError`` when X's channel count differs from the fitted one."""
    if X.shape[1] != n_expected:
        raise ValueError(f"X has {X.shape[1]} channels, {owner} was fitted on {n_expected}")


# ------------------------------------------------------------------------------ parameter constraints
@dataclass(frozen=True)
class Interval:
    """A number in a range: ``Interval(int, 1, None)`` is an int >= 1; ``Interval(float, 0, 1, "neither")``
    a real in (0, 1). Ints are accepted for floats; bools never count as numbers."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        ok_type = isinstance(value, int | np.integer) if self.kind is int else isinstance(value, Real)
        if not ok_type or (self.kind is not int and not np.isfinite(value)):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        return not (
            self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither")))
        )

    def describe(self) -> str:
        kind = "an int" if self.kind is int else "a number"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        if self.high is None:
            return f"{kind} {'>=' if left == '[' else '>'} {self.low}" if self.low is not None else kind
        if self.low is None:
            return f"{kind} {'<=' if right == ']' else '<'} {self.high}"
        return f"{kind} in {left}{self.low}, {self.high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings, usually)."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Hashable) and not isinstance(value, bool) and value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _accepts(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return bool(constraint.accepts(value))


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return f"a {constraint.__name__}"
    return str(constraint.describe())


def validate_params(owner: str, params: dict[str, Any], constraints: dict[str, list[Any]]) -> None:
    """Check every parameter against its declared constraints (a list of alternatives).

    An alternative is ``None``, a type (``isinstance``), an ``Interval`` or ``Options``. A parameter with no
    declared constraint is not checked here (a user's own subclass may declare none); the common checks
    require every registered detector and generator to declare every parameter.

    Raises:
        ValueError: naming the parameter, the value given and what is accepted.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        allowed = constraints[name]
        if not any(_accepts(c, value) for c in allowed):
            expected = " or ".join(_describe(c) for c in allowed)
            raise ValueError(f"{owner}: parameter {name}={value!r} is not valid; expected {expected}")


def batched(n: int, batch_size: int) -> Iterator[slice]:
    """Slices covering ``range(n)`` in chunks of ``batch_size`` (torch-free; ``nn.training`` re-exports it)."""
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


#: The constraints of the training settings models share (the ``TrainConfig`` fields they expose).
TRAINING_CONSTRAINTS: dict[str, list[Any]] = {
    "epochs": [Interval(int, 1, None)],
    "batch_size": [Interval(int, 1, None)],
    "lr": [Interval(float, 0.0, None, "neither")],
    "weight_decay": [Interval(float, 0.0, None)],
    "patience": [Interval(int, 0, None)],
    "val_fraction": [Interval(float, 0.0, 1.0, "left")],
    "time_budget": [None, Interval(float, 0.0, None, "neither")],
}


def training_constraints(*names: str) -> dict[str, list[Any]]:
    """The shared constraints of these training parameters (names from ``TRAINING_CONSTRAINTS``)."""
    return {name: TRAINING_CONSTRAINTS[name] for name in names}
