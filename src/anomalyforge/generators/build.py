"""The one way a detector builds the generator of its negatives (CARLA, the copula detector, ...).

A detector names a generator (a registry name) or passes an instance; this module makes the generator the
detector will fit, with the detector's window, seed and share of its time budget, so that deterministic
mode (``time_budget=None`` and a seed) reaches the generator too: it then gets ``time_budget=None`` and the
detector's ``random_state``, whatever its own defaults are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone

from anomalyforge.core.base import BaseGenerator
from anomalyforge.core.budget import Budget
from anomalyforge.core.registry import GENERATORS
from anomalyforge.core.windows import series_windows

__all__ = ["build_negative_generator", "forge_windows"]


def build_negative_generator(
    generator: str | BaseGenerator,
    budget: Budget,
    *,
    window: int | None = None,
    random_state: int | None = None,
    params: dict[str, Any] | None = None,
) -> BaseGenerator:
    """A fresh generator for a detector's negatives.

    Of the parameters the generator has, ``window`` is set to the detector's window and ``time_budget`` to
    the seconds of ``budget`` (None when the detector has no time budget: nothing stops on wall time); an
    instance that brings its own time budget keeps the smaller of the two. ``random_state`` is the
    detector's, except that an instance keeps a seed it was given. ``params`` (the detector's
    ``generator_params``) are set last and win over all of these.

    Args:
        generator: a registry name (``"rules"``, ``"genias"``, ``"flow"``, ...) or an instance (cloned, so the
            caller's object is never fitted).
        budget: the generator's share of the detector's budget (``Budget.share``).
        window: the detector's window length.
        random_state: the detector's seed.
        params: explicit generator parameters.

    Returns:
        an unfitted generator.

    Raises:
        ValueError: an unknown registry name (the message lists the registered ones).
        TypeError: neither a name nor a ``BaseGenerator``.
    """
    if isinstance(generator, BaseGenerator):
        gen, own = clone(generator), True
    elif isinstance(generator, str):
        if generator not in GENERATORS:
            raise ValueError(f"unknown generator {generator!r}; registered generators: {', '.join(GENERATORS.names())}")
        gen, own = GENERATORS.make(generator), False
    else:
        raise TypeError(f"generator must be a registry name or a BaseGenerator, got {type(generator).__name__}")
    current = gen.get_params(deep=False)
    fill: dict[str, Any] = {}
    if "window" in current and window is not None:
        fill["window"] = int(window)
    if "random_state" in current and not (own and current["random_state"] is not None):
        fill["random_state"] = random_state
    if "time_budget" in current:
        seconds = budget.seconds
        theirs = current["time_budget"] if own else None
        fill["time_budget"] = seconds if seconds is None or theirs is None else min(float(theirs), seconds)
    fill.update(params or {})
    return gen.set_params(**fill) if fill else gen


def forge_windows(
    generator: BaseGenerator,
    X: np.ndarray,
    starts: np.ndarray,
    window: int,
    standardise: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    chunk: int = 512,
) -> tuple[np.ndarray, float]:
    """One forged anomaly per window of the RAW series (generators work in data units), standardised.

    Args:
        generator: a fitted (or rule) generator.
        X: (n, C) raw series.
        starts: (N,) starts of the windows to forge from.
        window: window length.
        standardise: maps raw (m, C) rows to standardised float32 rows (the detector's own standardisation).
        rng: the draws.
        chunk: windows forged at a time (bounds the float64 copies).

    Returns:
        ``(forged, changed)``: (N, window, C) float32 standardised forgeries and the mean share of cells changed.
    """
    raw = series_windows(X, window)
    out = np.empty((len(starts), window, X.shape[1]), dtype=np.float32)
    changed = 0.0
    for lo in range(0, len(starts), chunk):
        made = generator.generate(raw[starts[lo : lo + chunk]], 1, rng)
        out[lo : lo + chunk] = standardise(made.patched.reshape(-1, X.shape[1])).reshape(made.patched.shape)
        changed += float(made.mask.mean()) * len(made.mask)
    return out, changed / max(len(starts), 1)
