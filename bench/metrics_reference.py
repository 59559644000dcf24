"""Print anomalyforge.metrics against the TSB-AD 1.5 reference values of the issue, and time evaluate().

Usage: .venv/bin/python bench/metrics_reference.py
"""

from __future__ import annotations

import time

import numpy as np

from anomalyforge.metrics import evaluate
from anomalyforge.metrics.reference import REFERENCE


def synthetic(n: int, n_segments: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    gap = n // n_segments
    for a in np.arange(n_segments) * gap + gap // 10:
        y[a : a + int(rng.integers(1, min(300, gap // 2)))] = 1
    return y, rng.normal(size=n) + 1.0 * y


def main() -> None:
    print(f"{'case':8} {'w':>4} {'metric':9} {'TSB-AD':>9} {'ours':>9} {'|diff|':>9}")
    for name, make, window, expected in REFERENCE:
        got = evaluate(*make(), sliding_window=window)
        for key, value in expected.items():
            print(f"{name:8} {window:>4} {key:9} {value:9.6f} {got[key]:9.6f} {abs(got[key] - value):9.2e}")
    print()
    for n_segments in (20, 1000):
        y, s = synthetic(100_000, n_segments)
        evaluate(y, s)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            evaluate(y, s)
            times.append(time.perf_counter() - start)
        print(f"evaluate n=100000, {n_segments} segments ({y.mean():.1%} anomalous), W=100: "
              f"best of 3 = {min(times):.2f} s")


if __name__ == "__main__":
    main()
