"""Does CARLA's ``recon_positive`` help GenIAS+CARLA? Development UCR series (not in the quick suite).

Runs ``genias_carla`` with ``recon_positive`` 0 (GenIAS negatives as published) and the given share, and
``carla`` (rule negatives) beside them, on UCR series whose ids are not in the quick suite, and prints
point-level VUS-PR / AUPR / best-F1 per series and their means.

Usage: .venv/bin/python bench/bench_recon_positive.py [--ids 002,012,...] [--share 0.5] [--budget 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from anomalyforge.datasets import list_series, load_series
from anomalyforge.metrics import estimate_sliding_window, evaluate
from anomalyforge.registry import make_detector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", default="002,012,022,032,052,072,102,122")
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    names = list_series("UCR", args.data_root)
    wanted = [next(n for n in names if n.split("/")[-1].startswith(i + "_")) for i in args.ids.split(",")]
    configs = {
        "genias_carla rp=0": ("genias_carla", {}),
        f"genias_carla rp={args.share}": ("genias_carla", {"recon_positive": args.share}),
        "carla": ("carla", {}),
    }
    table: dict[str, list[tuple[float, float, float]]] = {k: [] for k in configs}
    for name in wanted:
        data = load_series("UCR", name, args.data_root)
        window = estimate_sliding_window(data.test)
        for label, (det_name, params) in configs.items():
            start = time.perf_counter()
            det = make_detector(det_name, time_budget=args.budget, **params).fit(data.train)
            scores = det.anomaly_score(data.test)
            m = evaluate(data.labels, scores, sliding_window=window)
            row = (m["vus_pr"], m["aupr"], m["best_f1"])
            table[label].append(row)
            print(f"{name[4:44]:40} {label:22} VUS-PR {row[0]:.3f} AUPR {row[1]:.3f} best-F1 {row[2]:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    print()
    for label, rows in table.items():
        mean = np.mean(rows, axis=0)
        print(f"mean over {len(rows)} series  {label:22} VUS-PR {mean[0]:.3f} AUPR {mean[1]:.3f} best-F1 {mean[2]:.3f}")


if __name__ == "__main__":
    main()
