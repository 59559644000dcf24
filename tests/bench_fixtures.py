"""Tiny benchmark data roots in the published layouts, written by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _sine(n: int, seed: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 20 + rng.uniform(0, 6, (1, channels))) + 0.05 * rng.normal(size=(n, channels))


def write_tiny_root(root: Path) -> Path:
    """UCR (3 series) and SMD (2 machines) in their published layouts, each with one planted anomaly."""
    ucr = root / "UCR" / "UCR_Anomaly_FullData"
    ucr.mkdir(parents=True)
    for i, ident in enumerate(("001", "011", "021")):
        x = _sine(600, i)[:, 0]
        x[450:460] += 3.0  # 1-based 451..460
        np.savetxt(ucr / f"{ident}_UCR_Anomaly_tiny{i}_300_451_460.txt", x, fmt="%.6f")
    smd = root / "SMD" / "ServerMachineDataset"
    for sub in ("train", "test", "test_label", "interpretation_label"):
        (smd / sub).mkdir(parents=True)
    for i, name in enumerate(("machine-1-1", "machine-1-2")):
        train, test = _sine(400, 10 + i, 3), _sine(400, 20 + i, 3)
        test[200:210, 1] += 4.0
        labels = np.zeros(400, dtype=int)
        labels[200:210] = 1
        np.savetxt(smd / "train" / f"{name}.txt", train, delimiter=",", fmt="%.6f")
        np.savetxt(smd / "test" / f"{name}.txt", test, delimiter=",", fmt="%.6f")
        np.savetxt(smd / "test_label" / f"{name}.txt", labels, fmt="%d")
        (smd / "interpretation_label" / f"{name}.txt").write_text("201-210:2\n")
    return root


def write_suite(path: Path) -> Path:
    suite = {
        "name": "tiny",
        "parts": [
            {"dataset": "UCR", "ids": ["001", "011", "099"]},
            {"dataset": "SMD"},
            {"dataset": "MSL"},
        ],
    }
    path.write_text(json.dumps(suite))
    return path
