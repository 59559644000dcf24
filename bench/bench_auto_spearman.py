"""Does forged validation rank detectors as real labels do? (issue 16, item 2)

For each series: ``auto``'s own hold-out plan (fit part, held-out stretch, period, window grid) and every
candidate (detector x window) fitted on the fit part, as ``auto`` does. Each candidate is scored on several
labelled validation stretches made from the same held-out stretch (GenIAS-forged, rule-forged, mixing-forged
(CutAddPaste + NCAD) and auto's default rules + CutAddPaste + NCAD), and on the real test part. Per dataset
the script prints the Spearman correlation between the validation VUS-PR and the real test VUS-PR, pooled
over (series, candidate) pairs and as the mean of per-series correlations (ranking within a series is what
``auto`` needs). The real test labels are only measured here, never used to choose anything.

    PYTHONPATH=src .venv/bin/python bench/bench_auto_spearman.py --out runs/spearman [--genias-budget 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from anomalyforge.core.budget import Budget  # noqa: E402
from anomalyforge.datasets import list_series, load_series  # noqa: E402
from anomalyforge.detectors.auto.selection import (  # noqa: E402
    candidate_grid,
    fit_model_only,
    forge_validation,
    holdout_plan,
    make_candidate,
    surrogate_score,
)
from anomalyforge.metrics import estimate_sliding_window, vus_pr  # noqa: E402

SETS = {
    "genias": ("genias",),
    "rules": ("rules",),
    "mixing": ("cutaddpaste", "ncad"),
    "default": ("rules", "cutaddpaste", "ncad"),
}
DETECTORS = ("knn", "iforest", "pca", "ocsvm", "lof", "zscore")
UCR_QUICK = ["001", "011", "021", "031", "041", "051", "061", "071", "081", "091", "101", "111", "121", "131",
             "141", "151", "161", "171", "181", "191", "201", "211", "221", "231", "241"]  # fmt: skip


def subset(root: str | None, per_dataset: dict[str, int]) -> list[tuple[str, str]]:
    """The first n series of each quick-suite dataset (UCR: quick ids; NAB: series with an anomaly)."""
    out = []
    for dataset, n in per_dataset.items():
        names = list_series(dataset, root)
        if dataset == "UCR":
            names = [s for s in names if s.split("/")[-1][:3] in UCR_QUICK]
        picked = []
        for name in names:
            if len(picked) == n:
                break
            if dataset == "NAB" and not load_series(dataset, name, root).labels.any():
                continue
            picked.append(name)
        out += [(dataset, name) for name in picked]
    return out


def run_series(dataset: str, name: str, root: str | None, genias_budget: float, seed: int) -> list[dict]:
    data = load_series(dataset, name, root)
    X = data.train if data.train is not None and len(data.train) else data.test
    plan = holdout_plan(X, 0.25, 5000, 2000)
    C = X.shape[1]
    vals = {}
    for key, gens in SETS.items():
        rng = np.random.default_rng(seed)
        budget = Budget(2 * genias_budget)  # forge_validation hands learnt generators half of it
        try:
            vals[key] = forge_validation(plan.X_fit, plan.X_val, gens, plan.length, max(plan.windows), budget, rng,
                                         seed)  # fmt: skip
        except RuntimeError as exc:  # e.g. a GenIAS VAE cut short that leaves flat windows unchanged
            print(f"  {name}: no {key} validation set ({exc})")
    test_window = estimate_sliding_window(data.test)
    rows = []
    for cand in candidate_grid(DETECTORS, plan.windows, C):
        det = make_candidate(cand, C, 500, seed)
        t0 = time.perf_counter()
        try:
            fit_model_only(det, plan.X_fit)
            row = {"dataset": dataset, "series": name, "candidate": cand.label}
            for key in SETS:
                val = vals.get(key)
                row[f"val_{key}"] = (float("nan") if val is None else
                                     surrogate_score("vus_pr", val.labels, det._score(val.series), plan.period))
            row["test_vus_pr"] = float(vus_pr(data.labels, det._score(data.test), sliding_window=test_window))
        except (ValueError, np.linalg.LinAlgError) as exc:
            print(f"  {cand.label}: skipped ({exc})")
            continue
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| dataset | series | pairs | " + " | ".join(f"{k} pooled / per-series" for k in SETS) + " |",
             "|---|---|---|" + "---|" * len(SETS)]  # fmt: skip
    for dataset in sorted({r["dataset"] for r in rows}):
        every = [r for r in rows if r["dataset"] == dataset]
        series = sorted({r["series"] for r in every})
        cells = []
        for key in SETS:
            part = [r for r in every if np.isfinite(r[f"val_{key}"])]
            pooled = spearmanr([r[f"val_{key}"] for r in part], [r["test_vus_pr"] for r in part]).statistic
            within = []
            for s in series:
                one = [r for r in part if r["series"] == s]
                rho = spearmanr([r[f"val_{key}"] for r in one], [r["test_vus_pr"] for r in one]).statistic
                if np.isfinite(rho):
                    within.append(rho)
            cells.append(f"{pooled:+.2f} / {np.mean(within) if within else float('nan'):+.2f}")
        lines.append(f"| {dataset} | {len(series)} | {len(every)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/spearman")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--genias-budget", type=float, default=30.0, help="seconds of GenIAS training per series")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subset", default="GECCO:1,MSL:5,SMD:5,UCR:8,NAB:8", help="DATASET:N,... series per dataset")
    ap.add_argument("--suite", default=None, help="a suite file instead of --subset (e.g. bench/suites/dev_small.json)")
    ap.add_argument("--sets", default=",".join(SETS), help="validation sets to forge, of " + ",".join(SETS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_dataset = {k: int(v) for k, v in (p.split(":") for p in args.subset.split(","))}
    path = out / "rows.csv"
    done = set()
    rows: list[dict] = []
    if path.exists():
        with path.open() as f:
            rows = [{k: (v if k in ("dataset", "series", "candidate") else float(v)) for k, v in r.items()}
                    for r in csv.DictReader(f)]  # fmt: skip
        done = {r["series"] for r in rows}
    with threadpool_limits(1):
        if args.suite:
            from anomalyforge.bench.suites import resolve_suite

            series = [(s.split("/", 1)[0], s) for s in resolve_suite(args.suite, args.data_root).series]
        else:
            series = subset(args.data_root, per_dataset)
        for key in [k for k in SETS if k not in args.sets.split(",")]:
            del SETS[key]
        for dataset, name in series:
            if name in done:
                continue
            t0 = time.perf_counter()
            new = run_series(dataset, name, args.data_root, args.genias_budget, args.seed)
            print(f"{name}: {len(new)} candidates, {time.perf_counter() - t0:.0f} s", flush=True)
            write_header = not path.exists()
            with path.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(new[0]))
                if write_header:
                    writer.writeheader()
                writer.writerows(new)
            rows += new
            (out / "table.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
