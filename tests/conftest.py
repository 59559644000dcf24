"""Shared fixtures: small synthetic series and the optional ../shared/datasets folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """The benchmark data folder: ANOMALYFORGE_DATA, else ../shared/datasets beside the repo."""
    for candidate in (os.environ.get("ANOMALYFORGE_DATA"), REPO.parent / "shared" / "datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("../shared/datasets is not present")
    return root


def make_series(n: int = 400, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth periodic multichannel series with a little noise, shape (n, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, channels))
    return np.sin(2 * np.pi * t / 25 + phase) + 0.05 * rng.normal(size=(n, channels))


@pytest.fixture
def series() -> np.ndarray:
    return make_series()


@pytest.fixture
def fake_clock(monkeypatch) -> Callable[[float], None]:
    """``fake_clock(step)`` replaces the wall clocks (``time.perf_counter``, ``monotonic``, ``time``) by one
    that advances ``step`` seconds at every reading, until the test ends: time budgets then run out after a
    fixed number of readings whatever the machine's load (pytest's own timing is not affected)."""

    def start(step: float) -> None:
        now = [0.0]

        def tick() -> float:
            now[0] += step
            return now[0]

        for name in ("perf_counter", "monotonic", "time"):
            monkeypatch.setattr(time, name, tick)

    return start
