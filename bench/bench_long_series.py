"""Every registered detector scores a 100k-step series: time and peak memory, one subprocess per detector.

Each detector is fitted on a 5,000-step normal series (defaults, except that training time budgets are
capped with --budget so the run stays short) and then scores a 100,000-step series with 5 channels and a
few planted anomalies. The child process reports fit and score seconds and its peak resident memory
(ru_maxrss), so one detector's memory never hides another's.

    .venv/bin/python bench/bench_long_series.py [--steps 100000] [--channels 5] [--budget 20] [--only a,b]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"  # this checkout's package, not whichever one is installed

CHILD = r"""
import json, resource, sys, time
import numpy as np
from anomalyforge.metrics import aupr
from anomalyforge.core.registry import make_detector

name, steps, channels, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = np.random.default_rng(0)
def series(n, seed):
    r = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 50 + r.uniform(0, 6, (1, channels))) + 0.1 * r.normal(size=(n, channels))
train, test = series(5000, 1), series(steps, 2)
labels = np.zeros(steps, dtype=int)
for start in rng.choice(np.arange(1000, steps - 1000, 1000), 10, replace=False):
    test[start:start + 20, 0] += 3.0
    labels[start:start + 20] = 1
det = make_detector(name)
params = det.get_params()
caps = {k: budget for k in ("time_budget",) if k in params}
if "generator_budget" in params:
    caps["generator_budget"] = 0.4
det.set_params(**caps)
t0 = time.perf_counter(); det.fit(train); t1 = time.perf_counter()
scores = det.anomaly_score(test); t2 = time.perf_counter()
assert scores.shape == (steps,) and np.isfinite(scores).all()
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"fit_s": t1 - t0, "score_s": t2 - t1, "peak_mb": peak_mb, "aupr": aupr(labels, scores)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="cap on detectors' time_budget (s)")
    parser.add_argument("--only", help="comma-separated detector names")
    args = parser.parse_args()
    from anomalyforge.core.registry import list_detectors

    names = args.only.split(",") if args.only else list(list_detectors())
    print(f"{args.steps} steps x {args.channels} channels, training budget cap {args.budget:.0f} s, 1 thread")
    print(f"{'detector':<14}{'fit s':>8}{'score s':>9}{'peak MB':>9}{'AUPR':>7}")
    # the child imports this checkout's src (not whichever copy is installed)
    child_env = {"ANOMALYFORGE_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)}
    for name in names:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(args.steps), str(args.channels), str(args.budget)],
            capture_output=True, text=True, env=child_env,
        )
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            print(f"{name:<14} FAILED: {last}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name:<14}{r['fit_s']:>8.1f}{r['score_s']:>9.1f}{r['peak_mb']:>9.0f}{r['aupr']:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
