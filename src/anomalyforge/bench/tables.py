"""The report's tables, computed from the results store's rows (a DataFrame of ``ResultStore.frame()``).

Ranking rule: a failed job counts as the worst score, 0, on every metric (VUS-PR, AUPR, AUROC, best-F1,
affiliation F1, PATE all have 0 as their lowest value), so a detector that fails on hard series cannot rank
above one that finishes them with a poor score. A failed job on a series without labels (whose finished
jobs have no metrics) stays without a score. Times are medians over finished jobs only.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from anomalyforge.bench.store import METRIC_COLUMNS

__all__ = [
    "WORST_SCORE",
    "RANKED",
    "BUDGET_MARK",
    "FAILED_MARK",
    "scored_rows",
    "summary_tables",
    "per_series_table",
    "spread_table",
    "parameter_sets",
    "training_table",
    "provenance_table",
]

WORST_SCORE = 0.0
RANKED = ("vus_pr", "aupr", "auroc", "best_f1", "affiliation_f1", "pate")  # the report's metric columns
BUDGET_MARK = "†"
FAILED_MARK = "✗"
UNRECORDED = "unrecorded"


def _budget_cut(rows: pd.DataFrame) -> pd.Series:
    """True where a finished job's training was cut by its wall-time budget (NULL in older stores: False)."""
    if "budget_cut" not in rows:
        return pd.Series(False, index=rows.index)
    return (rows.status == "ok") & (pd.to_numeric(rows.budget_cut, errors="coerce").fillna(0) > 0)


def scored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row, a failed job's metrics set to the worst score (0) unless its series has no labels."""
    scored = frame.copy()
    failed = scored.status != "ok"
    ok = scored[~failed]
    unlabelled = set(ok.groupby("series").vus_pr.apply(lambda v: v.isna().all()).loc[lambda s: s].index)
    fill = failed & ~scored.series.isin(unlabelled)
    for column in METRIC_COLUMNS:
        scored[column] = scored[column].astype(float)
        scored.loc[fill, column] = WORST_SCORE
    return scored


def summary_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(mean over datasets, {dataset: per-detector table}), a failed job counting as the worst score.

    Per dataset: ``jobs``, ``failed``, ``budget`` (finished jobs whose training a wall-time budget cut), the
    mean of each metric over the dataset's jobs (failed = 0) and the median fit + score seconds of the
    finished jobs. Overall: the mean of the dataset means, counts summed, sorted by VUS-PR.
    """
    scored = scored_rows(frame)
    scored["budget"] = _budget_cut(scored)
    ok = scored[scored.status == "ok"]
    seconds = (ok.fit_seconds + ok.score_seconds).groupby([ok.dataset, ok.detector]).median()
    per_dataset: dict[str, pd.DataFrame] = {}
    for dataset, rows in scored.groupby("dataset"):
        by = rows.groupby("detector")
        table = pd.DataFrame(
            {"jobs": by.status.count(), "failed": by.status.agg(lambda s: int((s != "ok").sum())),
             "budget": by.budget.sum().astype(int)}
        )
        table = table.join(by[list(RANKED)].mean())
        table["seconds"] = seconds.get(dataset, pd.Series(dtype=float)).reindex(table.index)
        per_dataset[str(dataset)] = table.sort_values("vus_pr", ascending=False)
    if not per_dataset:
        return pd.DataFrame(columns=["datasets", "jobs", "failed", "budget", *RANKED, "seconds"]), per_dataset
    stacked = pd.concat(per_dataset.values(), keys=per_dataset.keys(), names=["dataset", "detector"])
    by = stacked.groupby("detector")
    overall = pd.DataFrame({"datasets": by.vus_pr.count()}).join(by[["jobs", "failed", "budget"]].sum())
    overall = overall.join(by[[*RANKED, "seconds"]].mean())
    return overall.sort_values("vus_pr", ascending=False), per_dataset


def per_series_table(frame: pd.DataFrame, metric: str = "vus_pr") -> pd.DataFrame:
    """Series x detector cells of text: the mean ``metric`` over the seeds that finished.

    ``†`` marks a cell where a wall-time budget cut some seed's training, ``✗n`` one where n seeds failed,
    ``failed`` a cell where every seed failed, ``–`` a series without labels and an empty cell a job not run.
    """
    rows = frame.assign(budget=_budget_cut(frame), failed=frame.status != "ok")

    def cell(group: pd.DataFrame) -> str:
        done = group[~group.failed]
        if done.empty:
            return "failed"
        value = done[metric].mean()
        text = "–" if np.isnan(value) else f"{value:.3f}"
        if group.budget.any():
            text += BUDGET_MARK
        if group.failed.any():
            text += f"{FAILED_MARK}{int(group.failed.sum())}"
        return text

    cells = {key: cell(group) for key, group in rows.groupby(["series", "detector"])}
    table = pd.Series(cells, dtype=object).unstack() if cells else pd.DataFrame()
    return table.fillna("")


def spread_table(frame: pd.DataFrame, metric: str = "vus_pr") -> pd.DataFrame:
    """Per detector, the spread of ``metric`` across series and (with several seeds) across seeds.

    Columns: ``series`` (how many), ``mean``, ``std`` and ``IQR`` of the per-series values (each the mean
    over seeds, failed = 0); with several seeds also ``seeds`` and ``seed std`` (the standard deviation
    across seeds on one series, averaged over series).
    """
    scored = scored_rows(frame)
    per_series = scored.groupby(["detector", "series"])[metric].mean().groupby("detector")
    table = pd.DataFrame(
        {"series": per_series.count(), "mean": per_series.mean(), "std": per_series.std(),
         "IQR": per_series.quantile(0.75) - per_series.quantile(0.25)}
    )
    if scored.seed.nunique() > 1:
        seeds = scored.groupby(["detector", "series"])
        table["seeds"] = seeds.seed.nunique().groupby("detector").max()
        table["seed std"] = seeds[metric].std().groupby("detector").mean()
    return table.sort_values("mean", ascending=False)


def parameter_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """Per detector, each distinct set of parameters its jobs ran with and how many jobs ran it.

    ``run_params`` (every parameter, as ``get_params`` gave it) without ``random_state``, which is each
    job's seed; rows of older stores have only the parameters given to the run (``full`` False).
    """
    records = []
    for row in frame.itertuples():
        recorded = getattr(row, "run_params", None)
        full = isinstance(recorded, str)
        values = json.loads(recorded if full else (row.params or "{}"))
        values.pop("random_state", None)
        records.append((row.detector, json.dumps(values, sort_keys=True), full))
    if not records:
        return pd.DataFrame(columns=["detector", "params", "full", "jobs"])
    counts = Counter(records)
    columns = ["detector", "params", "full", "jobs"]
    table = pd.DataFrame([(d, p, f, n) for (d, p, f), n in counts.items()], columns=columns)
    return table.sort_values(["detector", "jobs"], ascending=[True, False]).reset_index(drop=True)


def training_table(frame: pd.DataFrame) -> pd.DataFrame:
    """How training ended, per detector and trained part, over finished jobs.

    Columns: ``detector``, ``part`` (``–`` when no part was recorded), ``ended by`` (each stopping reason
    with its count, ``time budget`` being the budget cut), ``epochs`` (fewest–most) and ``jobs``.
    """
    reasons: dict[tuple[str, str], Counter] = {}
    epochs: dict[tuple[str, str], list[int]] = {}
    for row in frame[frame.status == "ok"].itertuples():
        text = getattr(row, "training", None)
        if not isinstance(text, str):
            reasons.setdefault((row.detector, "–"), Counter())[f"{UNRECORDED} (older store)"] += 1
            continue
        summary = json.loads(text)
        if not summary.get("parts"):
            reasons.setdefault((row.detector, "–"), Counter())[str(row.training_end or "n/a")] += 1
            continue
        for part, reason in summary["stopped_by"].items():
            reasons.setdefault((row.detector, part), Counter())[reason or "?"] += 1
            n = (summary.get("epochs") or {}).get(part)
            if n is not None:
                epochs.setdefault((row.detector, part), []).append(int(n))
    out = []
    for (detector, part), counter in sorted(reasons.items()):
        runs = epochs.get((detector, part))
        span = "–" if not runs else (f"{min(runs)}" if min(runs) == max(runs) else f"{min(runs)}–{max(runs)}")
        ended = ", ".join(f"{reason} ×{n}" for reason, n in counter.most_common())
        out.append((detector, part, ended, span, sum(counter.values())))
    return pd.DataFrame(out, columns=["detector", "part", "ended by", "epochs", "jobs"])


def provenance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The package versions and git commits that produced the rows, with their job counts."""
    keyed = frame.reindex(columns=["version", "git_commit"]).astype(object)
    keyed = keyed.where(keyed.notna(), UNRECORDED)
    table = keyed.groupby(["version", "git_commit"]).size().rename("jobs").reset_index()
    return table.rename(columns={"git_commit": "commit"}).sort_values("jobs", ascending=False).reset_index(drop=True)
