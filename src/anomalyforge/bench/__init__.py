"""Benchmark harness: suites of benchmark series, jobs run with joblib or Dask, SQLite results, reports.

    from anomalyforge.bench import run_benchmark
    summary = run_benchmark("quick", ["iforest", "pca"], out_dir="runs/quick", workers=2)
    print(summary.table)
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomalyforge.bench.report import Report, build_report
from anomalyforge.bench.runner import Job, execute_jobs, make_jobs, run_job
from anomalyforge.bench.store import ResultStore
from anomalyforge.bench.suites import resolve_suite

__all__ = [
    "BenchSummary", "run_benchmark", "merge_results", "Job", "make_jobs", "run_job", "ResultStore", "resolve_suite",
]


@dataclass
class BenchSummary:
    """What a benchmark run did and where its outputs are."""

    table: str
    report_md: Path
    report_html: Path
    database: Path
    n_done: int
    n_failed: int
    n_skipped: int
    missing: list[str]
    seconds: float


def merge_results(
    out_dir: str | Path, sources: list[str | Path], *, data_root: str | None = None, title: str | None = None
) -> tuple[Report, int]:
    """Merge the results of earlier benchmark folders into ``out_dir`` and write its report.

    Rows are copied into ``out_dir/results.sqlite`` (a finished row is never replaced) and kept score files
    into ``out_dir/scores`` (an existing file is never overwritten). Returns the report and the number of
    rows copied. With no sources the report of ``out_dir`` is just rebuilt.
    """
    out = Path(out_dir)
    store = ResultStore(out / "results.sqlite")
    copied = 0
    for source in map(Path, sources):
        copied += store.merge(source / "results.sqlite")
        for path in (source / "scores").glob("*/*.npy"):
            target = out / "scores" / path.parent.name / path.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    report = build_report(out, data_root, title=title or f"anomalyforge benchmark: {out.name}")
    return report, copied


def _check_params(detectors: list[str], params: dict[str, dict[str, Any]] | None) -> None:
    """Fail before any job runs when ``params`` gives a detector that runs a parameter it lacks."""
    from anomalyforge.core.registry import make_detector

    for name, values in (params or {}).items():
        if name not in detectors:
            continue  # a shared parameter table may cover detectors this run leaves out
        own = make_detector(name).get_params()
        bad = sorted(set(values) - set(own))
        if bad:
            raise ValueError(f"{name} has no parameter(s) {bad}; it has {sorted(own)}")


def run_benchmark(
    suite: str,
    detectors: list[str],
    *,
    data_root: str | None = None,
    out_dir: str | Path = "runs/bench",
    workers: int = 1,
    scheduler: Any = None,
    seeds: list[int] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
) -> BenchSummary:
    """Run ``detectors`` over a suite, store each job's row in ``out_dir/results.sqlite``, write the report.

    Args:
        suite: shipped suite name (``demo``, ``quick``, ``full``) or a suite JSON path.
        detectors: registered detector names.
        data_root: benchmark data folder (default ``$ANOMALYFORGE_DATA`` or ../shared/datasets).
        out_dir: folder for the database, kept scores, plots and the report.
        workers: local joblib processes (ignored with ``scheduler``).
        scheduler: a Dask scheduler address (``tcp://host:port``) or a ``distributed.Client``.
        seeds: seeds; each sets the detector's ``random_state`` when it has one.
        params: optional per-detector parameters, ``{detector: {param: value}}``.
        progress: show a progress bar.
    """
    from anomalyforge.core.registry import DETECTORS

    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector(s) {unknown}; see `anomalyforge detectors`")
    _check_params(detectors, params)
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = resolve_suite(suite, data_root)
    if not resolved.series:
        raise ValueError(f"suite {suite!r} found no series under the data root; missing: {resolved.missing}")
    seeds = seeds or [0]
    jobs = make_jobs(detectors, resolved.series, seeds, params)
    (out / "suite.json").write_text(
        json.dumps({"suite": resolved.name, "series": resolved.series, "missing": resolved.missing}, indent=1)
    )
    store = ResultStore(out / "results.sqlite")
    done, failed, skipped = execute_jobs(
        jobs, store, out / "scores", data_root=data_root, workers=workers, scheduler=scheduler, progress=progress
    )
    report = build_report(out, data_root, title=f"anomalyforge benchmark: suite {resolved.name}")
    table = report.table
    if resolved.missing:
        table += "\n\nmissing from the data root: " + ", ".join(resolved.missing)
    return BenchSummary(
        table=table,
        report_md=report.markdown,
        report_html=report.html,
        database=store.path,
        n_done=done,
        n_failed=failed,
        n_skipped=skipped,
        missing=resolved.missing,
        seconds=time.perf_counter() - start,
    )
