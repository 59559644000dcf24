"""Several seeds of one benchmark folder: per detector, the mean of the dataset means for each seed, then the
mean and spread (sample standard deviation) over the seeds, with per-dataset VUS-PR means over the seeds.

Only (series, seed) pairs that every listed detector finished are averaged, so a partial run compares like
with like; "median s" is the median fit + score seconds over those rows.

    .venv/bin/python bench/seed_table.py runs/q_clf_s12 [DETECTOR ...]
"""

from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict

import numpy as np

METRICS = ("vus_pr", "aupr", "best_f1")


def main() -> None:
    folder, wanted = sys.argv[1], sys.argv[2:]
    con = sqlite3.connect(f"{folder}/results.sqlite")
    query = "select detector, dataset, series, seed, vus_pr, aupr, best_f1, fit_seconds + score_seconds, "
    query += "coalesce(budget_cut, 0) from results where status = 'ok'"
    rows: dict[str, dict[tuple[str, str, int], tuple]] = defaultdict(dict)
    for det, dataset, series, seed, *values in con.execute(query):
        if not wanted or det in wanted:
            rows[det][(dataset, series, int(seed))] = tuple(values)
    dets = wanted or sorted(rows)
    common = set.intersection(*(set(rows[d]) for d in dets))
    datasets = sorted({k[0] for k in common})
    seeds = sorted({k[2] for k in common})
    print(f"{folder}: {len(common)} (series, seed) pairs common to {', '.join(dets)}; seeds {seeds}")
    head = " | ".join(f"{ds} ({len({k[1] for k in common if k[0] == ds})})" for ds in datasets)
    print(f"| detector | {head} | VUS-PR mean +- sd | AUPR | best-F1 | median s | budget-cut |")
    print("|---" * (len(datasets) + 6) + "|")
    for det in dets:
        per_seed = []  # (seed) -> mean over datasets of (dataset mean) for each metric
        per_dataset = defaultdict(list)
        for seed in seeds:
            means = []
            for ds in datasets:
                vals = np.array([rows[det][k][:3] for k in common if k[0] == ds and k[2] == seed])
                means.append(vals.mean(axis=0))
                per_dataset[ds].append(vals[:, 0].mean())
            per_seed.append(np.mean(means, axis=0))
        per_seed = np.array(per_seed)
        sd = per_seed[:, 0].std(ddof=1) if len(seeds) > 1 else float("nan")
        secs = np.median([rows[det][k][3] for k in common])
        cut = np.mean([rows[det][k][4] for k in common])
        cells = " | ".join(f"{np.mean(per_dataset[ds]):.3f}" for ds in datasets)
        print(
            f"| {det} | {cells} | {per_seed[:, 0].mean():.3f} +- {sd:.3f} | {per_seed[:, 1].mean():.3f} | "
            f"{per_seed[:, 2].mean():.3f} | {secs:.1f} | {cut:.2f} |"
        )
        print(f"|   per seed | {' '.join(f'{v:.3f}' for v in per_seed[:, 0])} |")


if __name__ == "__main__":
    main()
