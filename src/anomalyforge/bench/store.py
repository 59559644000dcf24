"""SQLite results store: one row per (detector, series, seed, parameters) job, written as each job ends.

Columns added after the first release (how training ended, the parameters run, version and commit) are
added with ``ALTER TABLE`` when an older store is opened, so old stores still open, resume, merge and
report (their rows have NULL there, shown as "unrecorded").
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ResultStore", "METRIC_COLUMNS", "ADDED_COLUMNS"]

METRIC_COLUMNS = (
    "vus_pr",
    "vus_roc",
    "aupr",
    "auroc",
    "best_f1",
    "pa_f1",
    "affiliation_f1",
    "pate",
)

# column -> SQLite type, added to stores written before they existed
ADDED_COLUMNS = {
    "training": "TEXT",  # BaseDetector.training_summary() as JSON
    "training_end": "TEXT",  # one line: "not trained", "n/a (not recorded)", "model: patience, 12 epochs"
    "budget_cut": "INTEGER",  # 1 when a wall-time budget stopped a trained part
    "run_params": "TEXT",  # every parameter the detector ran with (get_params), JSON
    "version": "TEXT",  # anomalyforge.__version__
    "threshold": "REAL",  # the fitted threshold_
    "threshold_source": "TEXT",  # BaseDetector.threshold_source_: "held-out (...)" or "in-sample (...)"
    "flag_rate": "REAL",  # share of test steps scoring above the threshold
    "anomaly_rate": "REAL",  # share of test steps labelled anomalous
    "normal_flag_rate": "REAL",  # share of the test's normal (label 0) steps flagged: the false-alarm rate
    "contamination": "REAL",  # the detector's contamination parameter (NaN without one)
    "git_commit": "TEXT",  # git revision of the source tree that ran ("-dirty", or "unknown")
}
#: the added columns that ``bench.runner.run_job`` fills from the fitted threshold (``bench_flag_rates.py``)
THRESHOLD_COLUMNS = ("threshold", "threshold_source", "flag_rate", "anomaly_rate", "normal_flag_rate", "contamination")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    job_key TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    dataset TEXT NOT NULL,
    series TEXT NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    n_train INTEGER,
    n_test INTEGER,
    n_channels INTEGER,
    fit_seconds REAL,
    score_seconds REAL,
    peak_mb REAL,
    {", ".join(f"{c} REAL" for c in METRIC_COLUMNS)},
    metrics TEXT,
    finished_at TEXT DEFAULT CURRENT_TIMESTAMP,
    {", ".join(f"{c} {t}" for c, t in ADDED_COLUMNS.items())}
)
"""


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


class ResultStore:
    """Results of a benchmark in ``<out>/results.sqlite``; safe to reopen for a resumed run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_SCHEMA)
            have = self._columns(con)
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:  # a store written by an older version
                    con.execute(f"ALTER TABLE results ADD COLUMN {column} {kind}")

    @staticmethod
    def _columns(con: sqlite3.Connection) -> set[str]:
        return {row[1] for row in con.execute("PRAGMA table_info(results)")}

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def finished_keys(self) -> set[str]:
        """Keys of jobs that completed successfully (failed jobs are run again on resume)."""
        with self._connect() as con:
            return {row[0] for row in con.execute("SELECT job_key FROM results WHERE status = 'ok'")}

    def write(self, row: dict[str, Any]) -> None:
        """Insert or replace one job's row (committed at once, so a killed run loses nothing finished)."""
        metrics = row.get("metrics") or {}
        record = {
            "job_key": row["job_key"],
            "detector": row["detector"],
            "dataset": row["dataset"],
            "series": row["series"],
            "seed": row["seed"],
            "params": json.dumps(row.get("params") or {}, sort_keys=True),
            "status": row["status"],
            "error": row.get("error"),
            "n_train": row.get("n_train"),
            "n_test": row.get("n_test"),
            "n_channels": row.get("n_channels"),
            "fit_seconds": row.get("fit_seconds"),
            "score_seconds": row.get("score_seconds"),
            "peak_mb": row.get("peak_mb"),
            **{c: metrics.get(c) for c in METRIC_COLUMNS},
            "metrics": json.dumps(metrics, sort_keys=True),
            "training": _json_or_none(row.get("training")),
            "training_end": row.get("training_end"),
            "budget_cut": None if row.get("budget_cut") is None else int(bool(row["budget_cut"])),
            "run_params": _json_or_none(row.get("run_params")),
            "version": row.get("version"),
            **{k: row.get(k) for k in THRESHOLD_COLUMNS},
            "git_commit": row.get("git_commit"),
        }
        columns = ", ".join(record)
        marks = ", ".join("?" for _ in record)
        with self._connect() as con:
            con.execute(f"INSERT OR REPLACE INTO results ({columns}) VALUES ({marks})", list(record.values()))

    def merge(self, other: str | Path) -> int:
        """Copy the rows of another results store into this one; returns how many rows were copied.

        A row whose job is already here is kept unless it failed and the other store's row succeeded, so
        merging never replaces a finished result.
        """
        other = Path(other)
        if not other.is_file():
            raise FileNotFoundError(f"no results store at {other}")
        if other.resolve() == self.path.resolve():
            raise ValueError(f"cannot merge {other} into itself")
        with sqlite3.connect(other) as src:
            names = {row[0] for row in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "results" not in names:
                raise ValueError(f"{other} is not an anomalyforge results store (no results table)")
            src.row_factory = sqlite3.Row
            rows = [dict(r) for r in src.execute("SELECT * FROM results")]
        with self._connect() as con:
            known = self._columns(con)
            mine = dict(con.execute("SELECT job_key, status FROM results").fetchall())
            take = [r for r in rows if r["job_key"] not in mine or (mine[r["job_key"]] != "ok" and r["status"] == "ok")]
            for r in take:
                r = {k: v for k, v in r.items() if k in known}  # an older store lacks columns, they stay NULL
                columns = ", ".join(r)
                marks = ", ".join("?" for _ in r)
                con.execute(f"INSERT OR REPLACE INTO results ({columns}) VALUES ({marks})", list(r.values()))
        return len(take)

    def frame(self) -> pd.DataFrame:
        """All rows as a DataFrame."""
        with self._connect() as con:
            return pd.read_sql_query("SELECT * FROM results ORDER BY dataset, series, detector, seed", con)
