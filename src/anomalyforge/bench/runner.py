"""Run every (detector, series, seed) job of a suite, locally with joblib or on a Dask cluster.

Each job fits on the series' training part (or, for series without one, on the test part itself, an
unsupervised fit recorded as ``n_train = 0``), scores every test step, computes every metric of
``anomalyforge.metrics.evaluate`` (VUS window = the period estimated from the test series, as TSB-AD
does) and measures fit and score seconds and the peak resident memory of the
worker during the job. Each row also records how training ended (``BaseDetector.training_summary``: the
parts trained, why each stopped, epochs run, whether a wall-time budget cut it), every parameter the
detector ran with, the package version and the git commit of the source tree that ran. A job never
raises: a failure becomes a row with its error, and the run goes on.
The main process writes each row to SQLite as soon as the job ends, so a killed run loses nothing
finished, and a rerun skips the jobs already done.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from anomalyforge.bench.store import ResultStore

__all__ = ["Job", "make_jobs", "run_job", "execute_jobs", "source_revision", "git_revision", "training_outcome"]


@dataclass(frozen=True)
class Job:
    """One detector on one series with one seed."""

    detector: str
    series: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    keep_scores: bool = False

    @property
    def dataset(self) -> str:
        return self.series.split("/", 1)[0]

    @property
    def key(self) -> str:
        digest = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.detector}|{self.series}|{self.seed}|{digest}"


def make_jobs(
    detectors: list[str], series: list[str], seeds: list[int], params: dict[str, dict[str, Any]] | None = None
) -> list[Job]:
    """The cross product, with scores kept for the first series of each dataset (for the report's plots)."""
    first: dict[str, str] = {}
    for s in series:
        first.setdefault(s.split("/", 1)[0], s)
    plot_series = set(first.values())
    params = params or {}
    return [
        Job(d, s, seed, params.get(d, {}), keep_scores=(s in plot_series and seed == seeds[0]))
        for s in series
        for d in detectors
        for seed in seeds
    ]


class _PeakMemory:
    """Samples this process's resident memory every 20 ms while active; ``peak_mb`` is the maximum."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def git_revision(folder: str | Path) -> str:
    """``git rev-parse HEAD`` of the checkout holding ``folder``, with ``-dirty`` when tracked files changed.

    Returns ``"unknown"`` when ``folder`` is not tracked in a git checkout (an installed package, no git).
    """
    folder = Path(folder)

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
        return done.stdout

    try:
        if not git("ls-files", "--", ".").strip():  # e.g. a package installed into a venv inside a checkout
            return "unknown"
        head = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@functools.cache
def source_revision() -> str:
    """The git revision of the source tree of the imported ``anomalyforge`` (computed once per process)."""
    import anomalyforge

    return git_revision(Path(anomalyforge.__file__).resolve().parent)


def training_outcome(summary: dict[str, Any] | None, requires_training: bool = True) -> str:
    """One line saying how training ended, from ``BaseDetector.training_summary()``.

    ``"not trained"`` for a detector that learns nothing, ``"n/a (not recorded)"`` for one that trains but
    recorded no part; otherwise ``"part: reason, N epochs"`` per part (``time budget`` is the budget cut).
    """
    parts = (summary or {}).get("parts") or {}
    if not parts:
        return "n/a (not recorded)" if requires_training else "not trained"
    epochs = (summary or {}).get("epochs") or {}

    def one(part: str, report: dict[str, Any]) -> str:
        n = epochs.get(part, report.get("epochs_run"))
        return f"{part}: {report.get('stopped_by') or '?'}" + ("" if n is None else f", {n} epochs")

    return "; ".join(one(part, report) for part, report in sorted(parts.items()))


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values (objects such as a threshold rule become their repr)."""
    return json.loads(json.dumps(params, sort_keys=True, default=repr))


def run_job(job: Job, data_root: str | None) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run one job in this process; returns ``(row, scores or None)`` and never raises."""
    os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")
    from threadpoolctl import threadpool_limits

    import anomalyforge
    from anomalyforge.core.registry import make_detector
    from anomalyforge.datasets import load_series
    from anomalyforge.metrics import estimate_sliding_window, evaluate

    row: dict[str, Any] = {
        "job_key": job.key,
        "detector": job.detector,
        "dataset": job.dataset,
        "series": job.series,
        "seed": job.seed,
        "params": job.params,
        "status": "error",
        "version": anomalyforge.__version__,
        "git_commit": source_revision(),
    }
    scores = None
    try:
        with threadpool_limits(1):
            data = load_series(job.dataset, job.series, data_root)
            train = data.train if data.train is not None and len(data.train) else data.test
            row.update(n_train=0 if train is data.test else len(train), n_test=len(data.test))
            row["n_channels"] = data.test.shape[1]
            params = dict(job.params)
            detector = make_detector(job.detector, **params)
            if "random_state" in detector.get_params():
                detector.set_params(random_state=job.seed)
            row["run_params"] = _json_params(detector.get_params(deep=False))
            with _PeakMemory() as mem:
                t0 = time.perf_counter()
                detector.fit(train)
                t1 = time.perf_counter()
                summary = detector.training_summary()
                row.update(
                    training=summary,
                    training_end=training_outcome(summary, detector.tags.requires_training),
                    budget_cut=bool(summary["budget_cut"]),
                )
                t2 = time.perf_counter()
                scores = detector.anomaly_score(data.test)
                t3 = time.perf_counter()
            row.update(fit_seconds=t1 - t0, score_seconds=t3 - t2, peak_mb=mem.peak_mb)
            # does the threshold hold? the share of test steps flagged beside the share truly anomalous
            flags, normal = scores > detector.threshold_, data.labels == 0
            row.update(
                threshold=float(detector.threshold_),
                threshold_source=detector.threshold_source_,
                flag_rate=float(flags.mean()),
                anomaly_rate=float(np.mean(data.labels)),
                normal_flag_rate=float(flags[normal].mean()) if normal.any() else None,
                contamination=float(getattr(detector, "contamination", np.nan)),
            )
            if data.labels.any():
                # TSB-AD's protocol: the VUS window is the period estimated from the test series (not labels)
                metrics = evaluate(data.labels, scores, sliding_window=estimate_sliding_window(data.test))
                row["metrics"] = {k: float(v) for k, v in metrics.items() if np.isscalar(v)}
            else:
                row["metrics"] = {}
            row["status"] = "ok"
    except Exception as exc:  # a failed job is recorded, the run goes on
        row["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        scores = None
    return row, (scores.astype(np.float32) if scores is not None and job.keep_scores else None)


def _joblib_results(jobs: list[Job], data_root: str | None, workers: int) -> Iterator[tuple[dict, Any]]:
    if workers <= 1:
        for job in jobs:
            yield run_job(job, data_root)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(run_job)(job, data_root) for job in jobs)


def _dask_results(jobs: list[Job], data_root: str | None, scheduler: Any) -> Iterator[tuple[dict, Any]]:
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(run_job, job, data_root, pure=False) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        if client is not scheduler:
            client.close()


def execute_jobs(
    jobs: list[Job],
    store: ResultStore,
    scores_dir: Path,
    *,
    data_root: str | None = None,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
) -> tuple[int, int, int]:
    """Run the jobs not already finished in ``store``; returns (done, failed, skipped)."""
    finished = store.finished_keys()
    todo = [j for j in jobs if j.key not in finished]
    skipped = len(jobs) - len(todo)
    results = _dask_results(todo, data_root, scheduler) if scheduler else _joblib_results(todo, data_root, workers)
    done = failed = 0
    with tqdm(total=len(todo), desc="bench", unit="job", disable=not progress) as bar:
        for row, scores in results:
            store.write(row)
            if scores is not None:
                path = scores_dir / row["dataset"] / f"{row['detector']}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, scores)
            done += row["status"] == "ok"
            failed += row["status"] != "ok"
            bar.update()
            bar.set_postfix(failed=failed, skipped=skipped)
    return done, failed, skipped
