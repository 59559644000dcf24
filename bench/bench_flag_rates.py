"""Do thresholds hold? Per dataset and detector, from benchmark folders: the share of test steps flagged
beside the share truly anomalous, and the false-alarm rate on the test's normal steps against the
``contamination`` the threshold was set for (the issue-16 target: within 2x of it).

Each argument is a benchmark output folder (``anomalyforge bench --out``); rows written before the
threshold columns existed are skipped.

    .venv/bin/python bench/bench_flag_rates.py runs/q_flags [runs/q_other ...]

Columns: series, median and mean flag rate, mean anomaly rate, median normal-step flag rate, the share of
series whose normal-step flag rate is within [c/2, 2c], the share flagging over half the test, and how the
threshold was set (held-out / in-sample counts).
"""

from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict

import numpy as np


def main(folders: list[str]) -> None:
    groups: dict[tuple[str, str], list[tuple[float, float, float, float, str]]] = defaultdict(list)
    for folder in folders:
        con = sqlite3.connect(f"{folder}/results.sqlite")
        cols = {r[1] for r in con.execute("PRAGMA table_info(results)")}
        if "flag_rate" not in cols:
            print(f"{folder}: no threshold columns (written by an older version)")
            continue
        query = ("select detector, dataset, flag_rate, anomaly_rate, normal_flag_rate, contamination, "
                 "threshold_source from results where status = 'ok' and flag_rate is not null")  # fmt: skip
        for det, dataset, flag, anomaly, normal, cont, source in con.execute(query):
            groups[(det, dataset.split("/")[0])].append((flag, anomaly, normal, cont, source or "?"))
    head = f"{'detector':18s} {'dataset':6s} {'n':>4s} {'flag med':>8s} {'flag mean':>9s} {'true':>6s} "
    head += f"{'normal med':>10s} {'in 2x':>6s} {'>50%':>5s}  source"
    print(head)
    for (det, dataset), rows in sorted(groups.items()):
        flag, anomaly, normal, cont = (np.array([r[i] for r in rows], dtype=float) for i in range(4))
        ok = ~np.isnan(normal) & ~np.isnan(cont)
        within = np.mean((normal[ok] >= cont[ok] / 2) & (normal[ok] <= 2 * cont[ok])) if ok.any() else np.nan
        sources = defaultdict(int)
        for r in rows:
            sources[r[4].split(" ")[0]] += 1
        print(
            f"{det:18s} {dataset:6s} {len(rows):4d} {np.median(flag):8.3f} {flag.mean():9.3f} {anomaly.mean():6.3f} "
            f"{np.nanmedian(normal):10.3f} {within:6.2f} {np.mean(flag > 0.5):5.2f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
