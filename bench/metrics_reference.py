"""Print anomalyforge.metrics against the TSB-AD 1.5 reference values of the issue, and time evaluate().

Usage: .venv/bin/python bench/metrics_reference.py
"""

from __future__ import annotations

import time

import numpy as np

from anomalyforge.metrics import evaluate


def case1() -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(2000)
    y = np.zeros(2000, dtype=int)
    y[500:560] = 1
    y[1400:1410] = 1
    s = 0.3 * np.sin(0.37 * t) + 0.2 * np.cos(0.051 * t)
    s[520:540] += 2.0
    s[1405] += 3.0
    s[900:905] += 1.5
    return y, s


def case2() -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(1000)
    y = np.zeros(1000, dtype=int)
    y[100:150] = 1
    y[700:720] = 1
    s = 0.5 * np.abs(np.sin(0.1 * t))
    s[95:130] += 1.0
    s[710] += 0.8
    return y, s


# TSB-AD 1.5 get_metrics(score, label, slidingWindow=w), as given in the issue.
REFERENCE = [
    ("case 1", case1, 100, {"aupr": 0.327400, "auroc": 0.575870, "vus_pr": 0.377229, "vus_roc": 0.781545,
                            "best_f1": 0.446805}),
    ("case 1", case1, 20, {"vus_pr": 0.341323, "vus_roc": 0.657516}),
    ("case 2", case2, 50, {"aupr": 0.538865, "auroc": 0.811444, "vus_pr": 0.608210, "vus_roc": 0.859276,
                           "best_f1": 0.584901}),
]


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
