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

__all__ = ["build_negative_generator", "fit_negative_generators", "forge_windows", "forge_mixture", "mixture_members"]


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


def mixture_members(generator: str | BaseGenerator) -> list[str] | None:
    """The member names of a mixture spelled ``"genias+rules"``; None for one generator (a name or an instance).

    Raises:
        ValueError: an empty or repeated member, or a member that is not a registered generator.
    """
    if not isinstance(generator, str) or "+" not in generator:
        return None
    names = [part.strip() for part in generator.split("+")]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ValueError(
            f"generator={generator!r}: a mixture is distinct generator names joined by '+', e.g. 'genias+rules'"
        )
    for n in names:
        if n not in GENERATORS:
            raise ValueError(f"unknown generator {n!r}; registered generators: {', '.join(GENERATORS.names())}")
    return names


def fit_negative_generators(
    generator: str | BaseGenerator,
    budget: Budget,
    X: np.ndarray,
    *,
    window: int | None = None,
    random_state: int | None = None,
    params: dict[str, Any] | None = None,
    record: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[BaseGenerator]:
    """Build (``build_negative_generator``) and fit a detector's generator, or each member of a mixture.

    A mixture (``"genias+rules"``, see ``mixture_members``) is returned as its fitted members in order; the ones
    that train split ``budget`` evenly (each takes its share of what the earlier ones left), and ``params`` then
    maps a member's name to that member's parameters. ``record(part, report)`` receives the training report of
    every generator that trains, under ``"generator"`` (one generator) or ``"generator:NAME"`` (a member).

    Raises:
        ValueError: as ``mixture_members``; ``params`` of a mixture that is not ``{member name: dict}``.
    """
    names = mixture_members(generator)
    if names is None:
        specs = [(generator, params, "generator")]
    else:
        given = params or {}
        if set(given) - set(names) or not all(isinstance(v, dict) for v in given.values()):
            raise ValueError(
                f"generator_params of the mixture {generator!r} maps member names ({', '.join(names)}) to dicts "
                f"of their parameters; got keys {sorted(given)}"
            )
        specs = [(n, given.get(n), f"generator:{n}") for n in names]
    # a mixture's members that train take equal shares of what the earlier ones left; one generator takes it all
    left = 0 if names is None else sum(GENERATORS.entry(n).cls.tags.requires_training for n in names)
    built = []
    for g, p, part in specs:
        shared = names is not None and GENERATORS.entry(g).cls.tags.requires_training
        gen = build_negative_generator(
            g, budget.share(1.0 / left) if shared else budget, window=window, random_state=random_state, params=p
        )
        left -= shared
        if gen.tags.requires_training:
            gen.fit(X)
            if record is not None:
                report = getattr(gen, "train_report_", None)  # what the package's trained generators record
                record(part, report if report is not None else {"stopped_by": "unreported"})
        built.append(gen)
    return built


def forge_mixture(
    generators: list[BaseGenerator],
    X: np.ndarray,
    starts: np.ndarray,
    window: int,
    standardise: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """``forge_windows`` with one generator; with several, each window's forger drawn uniformly from them.

    Returns:
        ``(forged, changed)`` as ``forge_windows``.
    """
    if len(generators) == 1:
        return forge_windows(generators[0], X, starts, window, standardise, rng)
    which = rng.integers(len(generators), size=len(starts))
    out = np.empty((len(starts), window, X.shape[1]), dtype=np.float32)
    changed = 0.0
    for k, gen in enumerate(generators):
        idx = np.flatnonzero(which == k)
        if len(idx):
            out[idx], part = forge_windows(gen, X, starts[idx], window, standardise, rng)
            changed += part * len(idx)
    return out, changed / max(len(starts), 1)
