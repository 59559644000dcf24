"""Means over the series two or more benchmark folders all finished: VUS-PR, AUPR, best-F1, median seconds.

Each argument is ``LABEL=FOLDER[:DETECTOR]``; rows are matched on (dataset, series) and only series that
every label finished are averaged, per dataset and over all, so partial runs compare like with like.

    .venv/bin/python bench/compare_runs.py periods=runs/q_vanad_uni rows=runs/q_vanad_uni_rows
    .venv/bin/python bench/compare_runs.py urf=runs/q_urf:urf knn=runs/q_urf:knn
"""

from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict

import numpy as np

KEYS = ("vus_pr", "aupr", "best_f1")


def rows(folder: str, detector: str | None) -> dict[tuple[str, str], dict[str, float]]:
    con = sqlite3.connect(f"{folder}/results.sqlite")
    query = "select dataset, series, detector, vus_pr, aupr, best_f1, fit_seconds + score_seconds from results "
    query += "where status = 'ok'"
    out = {}
    for dataset, series, det, *values in con.execute(query):
        if detector is None or det == detector:
            out[(dataset, series)] = dict(zip((*KEYS, "seconds"), values, strict=True))
    return out


def main() -> None:
    runs = {}
    for arg in sys.argv[1:]:
        label, spec = arg.split("=", 1)
        folder, _, detector = spec.partition(":")
        runs[label] = rows(folder, detector or None)
    common = set.intersection(*(set(r) for r in runs.values()))
    by_dataset = defaultdict(list)
    for key in sorted(common):
        by_dataset[key[0]].append(key)
    print(f"{'dataset':<8}{'label':<10}{'n':>4}{'VUS-PR':>8}{'AUPR':>7}{'bestF1':>8}{'med s':>8}")
    for dataset, keys in [*sorted(by_dataset.items()), ("all", sorted(common))]:
        for label, r in runs.items():
            vals = {k: np.mean([r[s][k] for s in keys]) for k in KEYS}
            med = np.median([r[s]["seconds"] for s in keys])
            print(f"{dataset:<8}{label:<10}{len(keys):>4}{vals['vus_pr']:>8.3f}{vals['aupr']:>7.3f}"
                  f"{vals['best_f1']:>8.3f}{med:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
