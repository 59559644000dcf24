"""Two small score/label cases with the values TSB-AD 1.5 prints for them, to check the metrics against.

``REFERENCE`` rows are ``(name, make, sliding_window, expected)``: ``make()`` returns ``(labels, scores)``
and ``expected`` maps metric keys of :func:`anomalyforge.metrics.evaluate` to the value printed by TSB-AD
1.5's ``get_metrics(score, label, slidingWindow=w)``. TSB-AD's Standard-F1 adds 1e-5 to the F1 denominator;
ours is exact, so best-F1 differs by about 3e-6.
"""

from __future__ import annotations

import numpy as np

__all__ = ["REFERENCE", "case1", "case2"]


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


REFERENCE = [
    ("case 1", case1, 100, {"aupr": 0.327400, "auroc": 0.575870, "vus_pr": 0.377229, "vus_roc": 0.781545,
                            "best_f1": 0.446805}),
    ("case 1", case1, 20, {"vus_pr": 0.341323, "vus_roc": 0.657516}),
    ("case 2", case2, 50, {"aupr": 0.538865, "auroc": 0.811444, "vus_pr": 0.608210, "vus_roc": 0.859276,
                           "best_f1": 0.584901}),
]  # fmt: skip
