"""The benchmark harness on tiny data roots: jobs, SQLite store, resume, failures, parallel runs, report."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

import anomalyforge
from anomalyforge.bench import Job, ResultStore, make_jobs, merge_results, resolve_suite, run_benchmark, runner
from anomalyforge.bench.report import build_report, cd_caveat, critical_difference
from anomalyforge.bench.runner import execute_jobs, git_revision, run_job, source_revision, training_outcome
from anomalyforge.bench.suites import available_suites
from anomalyforge.bench.tables import per_series_table, scored_rows, spread_table, summary_tables
from anomalyforge.core.base import BaseDetector
from anomalyforge.core.registry import DETECTORS, Entry
from anomalyforge.datasets import load_series
from anomalyforge.metrics import estimate_sliding_window, evaluate

from .bench_fixtures import write_suite, write_tiny_root

FAST = {"iforest": {"window": 10, "n_estimators": 20}, "pca": {"window": 10}, "zscore": {}}
UCR0 = "UCR/001_UCR_Anomaly_tiny0_300_451_460"


class RecordingDetector(BaseDetector):
    """Test double: a z-score that records one trained part ending as ``stopped_by`` (or records nothing)."""

    def __init__(
        self,
        stopped_by: str = "patience",
        record: bool = True,
        random_state: int | None = None,
        contamination: float = 0.01,
        threshold: object = None,
    ) -> None:
        self.stopped_by = stopped_by
        self.record = record
        self.random_state = random_state
        self.contamination = contamination
        self.threshold = threshold

    def _fit(self, X, y):
        self.mean_, self.std_ = X.mean(axis=0), X.std(axis=0) + 1e-9
        if self.record:
            self._record_training("model", {"epochs_run": 3, "stopped_by": self.stopped_by})

    def _score(self, X):
        return np.abs((X - self.mean_) / self.std_).max(axis=1)


@pytest.fixture
def recording(monkeypatch):
    """``recording`` registered for this test only (the common checks never see it)."""
    DETECTORS.names()  # load the registry first
    monkeypatch.setitem(DETECTORS._entries, "recording", Entry("recording", RecordingDetector, "test double"))
    return "recording"


@pytest.fixture
def tiny(tmp_path):
    root = write_tiny_root(tmp_path / "data")
    suite = write_suite(tmp_path / "tiny.json")
    return root, suite, tmp_path / "out"


def _rows(out):
    with sqlite3.connect(out / "results.sqlite") as con:
        return con.execute("SELECT job_key, status, vus_pr, fit_seconds FROM results ORDER BY job_key").fetchall()


def test_shipped_suites_and_missing_parts(tiny):
    root, suite, _ = tiny
    assert {"demo", "quick", "full"} <= set(available_suites())
    resolved = resolve_suite(str(suite), root)
    assert resolved.series == ["UCR/001_UCR_Anomaly_tiny0_300_451_460", "UCR/011_UCR_Anomaly_tiny1_300_451_460",
                               "SMD/machine-1-1", "SMD/machine-1-2"]
    assert "UCR/099" in resolved.missing and any(m.startswith("MSL") for m in resolved.missing)


def test_quick_suite_against_shared_data(shared_data):
    resolved = resolve_suite("quick", shared_data)
    counts = {}
    for name in resolved.series:
        counts[name.split("/")[0]] = counts.get(name.split("/")[0], 0) + 1
    assert counts == {"UCR": 25, "NAB": 52, "SMD": 19, "MSL": 27, "GECCO": 1}
    assert resolved.series[0].startswith("UCR/001_") and resolved.series[24].startswith("UCR/241_")


def test_run_writes_rows_metrics_and_report(tiny):
    root, suite, out = tiny
    summary = run_benchmark(str(suite), ["iforest", "zscore"], data_root=str(root), out_dir=out,
                            params=FAST, progress=False)
    assert (summary.n_done, summary.n_failed, summary.n_skipped) == (8, 0, 0)
    rows = _rows(out)
    assert len(rows) == 8 and all(r[1] == "ok" for r in rows)
    # the planted +3 / +4 bumps are easy: the z-score baseline must find them
    frame = ResultStore(out / "results.sqlite").frame()
    assert frame[frame.detector == "zscore"].auroc.min() > 0.9
    rng = np.random.default_rng(0)
    for dataset in ("UCR", "SMD"):
        series = sorted(frame[frame.dataset == dataset].series)[0]  # the series whose scores are kept
        data = load_series(dataset, series, str(root))
        window = estimate_sliding_window(data.test)
        here = frame[frame.series == series].set_index("detector").vus_pr
        # far above what random scores reach on the same labels
        chance = max(evaluate(data.labels, rng.random(len(data.test)), sliding_window=window)["vus_pr"]
                     for _ in range(3))
        assert chance < 0.2 and here["zscore"] > chance + 0.6
        # the stored figure is the one the kept scores give
        for detector in ("iforest", "zscore"):
            kept = np.load(out / "scores" / dataset / f"{detector}.npy").astype(np.float64)
            recomputed = evaluate(data.labels, kept, sliding_window=window)["vus_pr"]
            assert recomputed == pytest.approx(here[detector], abs=1e-6)
    text = (out / "report.md").read_text()
    assert "## UCR" in text and "## SMD" in text and "VUS-PR" in text
    assert (out / "plot_UCR.png").exists() and (out / "plot_SMD.png").exists()
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_resume_skips_finished_jobs_and_keeps_them(tiny):
    root, suite, out = tiny
    series = resolve_suite(str(suite), root).series
    jobs = make_jobs(["iforest", "pca"], series, [0], FAST)
    store = ResultStore(out / "results.sqlite")
    # a run "killed" after 3 jobs: only those rows exist
    execute_jobs(jobs[:3], store, out / "scores", data_root=str(root), progress=False)
    before = {r[0]: r for r in _rows(out)}
    assert len(before) == 3
    done, failed, skipped = execute_jobs(jobs, store, out / "scores", data_root=str(root), progress=False)
    assert (done, failed, skipped) == (5, 0, 3)
    after = {r[0]: r for r in _rows(out)}
    assert len(after) == 8
    for key, row in before.items():  # nothing recomputed: the same timings survive
        assert after[key] == row
    assert execute_jobs(jobs, store, out / "scores", data_root=str(root), progress=False) == (0, 0, 8)


def test_merge_combines_runs_and_never_replaces_a_finished_row(tiny):
    root, suite, out = tiny
    run_benchmark(str(suite), ["zscore"], data_root=str(root), out_dir=out / "a", progress=False)
    run_benchmark(str(suite), ["iforest", "pca"], data_root=str(root), out_dir=out / "b",
                  params={"iforest": {"window": 10000}, "pca": {"window": 10}}, progress=False)  # iforest fails
    run_benchmark(str(suite), ["iforest"], data_root=str(root), out_dir=out / "c", params=FAST, progress=False)
    a, b, c = (dict((r[0], r) for r in _rows(out / x)) for x in "abc")
    report, copied = merge_results(out / "all", [out / "a", out / "b"], data_root=str(root))
    assert copied == 12 and dict((r[0], r) for r in _rows(out / "all")) == a | b
    # a failed row is replaced by the same job's success, a finished one never
    ok_key = next(k for k, r in b.items() if r[1] == "ok")
    failed_key = next(k for k, r in b.items() if r[1] != "ok")
    c_keys = list(c)
    with sqlite3.connect(out / "c" / "results.sqlite") as con:
        for new_key, old_key in [(ok_key, c_keys[0]), (failed_key, c_keys[1])]:
            con.execute("UPDATE results SET job_key = ? WHERE job_key = ?", (new_key, old_key))
    _, copied = merge_results(out / "all", [out / "c"], data_root=str(root))
    merged = dict((r[0], r) for r in _rows(out / "all"))
    assert copied == 3 and len(merged) == 14
    assert merged[ok_key] == b[ok_key]  # a finished row stays
    assert merged[failed_key][1:] == c[c_keys[1]][1:]  # a failed row gives way to the success
    frame = ResultStore(out / "all" / "results.sqlite").frame()
    assert set(frame.detector) == {"zscore", "iforest", "pca"} and (frame.status == "ok").sum() == 11
    text = report.markdown.read_text()
    assert "zscore" in text and "pca" in text and (out / "all" / "plot_SMD.png").exists()
    with pytest.raises(ValueError, match="into itself"):
        merge_results(out / "all", [out / "all"])
    with pytest.raises(FileNotFoundError, match="no results store"):
        merge_results(out / "all", [out / "nothing"])


def test_failed_job_is_recorded_and_run_goes_on(tiny):
    root, suite, out = tiny
    summary = run_benchmark(str(suite), ["iforest", "pca"], data_root=str(root), out_dir=out,
                            params={"iforest": {"window": 10000}, "pca": {"window": 10}}, progress=False)
    assert summary.n_failed == 4 and summary.n_done == 4
    frame = ResultStore(out / "results.sqlite").frame()
    errors = frame[frame.status == "error"].error
    assert len(errors) == 4 and errors.str.contains("window").all()
    assert "Failed jobs" in (out / "report.md").read_text()


def test_parallel_and_dask_runs_match_serial(tiny):
    root, suite, out = tiny

    def scores_of(folder):
        frame = ResultStore(folder / "results.sqlite").frame().set_index("job_key")
        return frame[["vus_pr", "aupr", "auroc", "best_f1"]].sort_index()

    run_benchmark(str(suite), ["iforest", "pca"], data_root=str(root), out_dir=out / "serial",
                  params=FAST, progress=False)
    run_benchmark(str(suite), ["iforest", "pca"], data_root=str(root), out_dir=out / "joblib",
                  params=FAST, workers=2, progress=False)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            run_benchmark(str(suite), ["iforest", "pca"], data_root=str(root), out_dir=out / "dask",
                          params=FAST, scheduler=client, progress=False)
    serial = scores_of(out / "serial")
    assert len(serial) == 8
    np.testing.assert_allclose(scores_of(out / "joblib").to_numpy(), serial.to_numpy())
    np.testing.assert_allclose(scores_of(out / "dask").to_numpy(), serial.to_numpy())


def test_html_report_renders_in_headless_chromium(tiny):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    root, suite, out = tiny
    run_benchmark(str(suite), ["iforest", "pca", "zscore"], data_root=str(root), out_dir=out,
                  params=FAST, progress=False)
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={out / 'chrome-profile'}", "--virtual-time-budget=5000", "--dump-dom",
         (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = result.stdout
    assert "<table>" in dom and "Mean over datasets" in dom
    # the page's own script counts images the browser decoded: every one of them must have rendered
    import re

    match = re.search(r'data-images-rendered="(\d+)/(\d+)"', dom)
    assert match, "the report's load script did not run"
    rendered, total = int(match[1]), int(match[2])
    assert total >= 3 and rendered == total


def _frame_rows(out):
    frame = ResultStore(out / "results.sqlite").frame()
    return {(r.detector, json.loads(r.params).get("stopped_by"), json.loads(r.params).get("record")): r
            for r in frame.itertuples()}


def test_rows_record_training_end_params_version_and_commit(tiny, recording):
    root, _, out = tiny
    jobs = [Job("recording", UCR0, 7, {"stopped_by": "time budget"}), Job("recording", UCR0, 7, {}),
            Job("recording", UCR0, 7, {"record": False}), Job("zscore", UCR0, 7)]
    assert execute_jobs(jobs, ResultStore(out / "results.sqlite"), out / "scores", data_root=str(root),
                        progress=False) == (4, 0, 0)
    rows = _frame_rows(out)
    cut, patience = rows[("recording", "time budget", None)], rows[("recording", None, None)]
    silent, untrained = rows[("recording", None, False)], rows[("zscore", None, None)]
    assert cut.budget_cut == 1 and cut.training_end == "model: time budget, 3 epochs"
    assert json.loads(cut.training)["parts"]["model"]["stopped_by"] == "time budget"
    assert patience.budget_cut == 0 and patience.training_end == "model: patience, 3 epochs"
    # trains but records nothing / trains nothing: never "budget"
    assert silent.budget_cut == 0 and silent.training_end == "n/a (not recorded)"
    assert untrained.budget_cut == 0 and untrained.training_end == "not trained"  # zscore trains nothing
    assert json.loads(untrained.training)["parts"] == {}
    assert training_outcome({"parts": {}}, requires_training=False) == "not trained"  # Tags(requires_training=False)
    # every parameter run, the seed included
    assert json.loads(cut.run_params) == {
            "stopped_by": "time budget", "record": True, "random_state": 7, "contamination": 0.01, "threshold": None
        }
    assert json.loads(untrained.run_params) == {"contamination": 0.01, "threshold": None}
    head = subprocess.run(["git", "-C", str(Path(anomalyforge.__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"  # not a checkout
    for row in rows.values():
        assert row.version == anomalyforge.__version__
        assert row.git_commit.removesuffix("-dirty") == head


def test_a_failed_job_still_records_version_and_commit(tiny):
    root, _, _ = tiny
    row, _ = run_job(Job("iforest", UCR0, 0, {"window": 10000}), str(root))
    assert row["status"] == "error" and row["version"] == anomalyforge.__version__
    assert row["git_commit"] == source_revision() and "budget_cut" not in row


def test_git_revision_marks_dirty_trees_and_unknown_folders(tmp_path):
    assert git_revision(tmp_path) == "unknown"  # not a checkout
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("x = 1\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    assert git_revision(repo / "pkg") == "unknown"  # a checkout, but the package is not tracked in it
    git("add", ".")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert git_revision(repo / "pkg") == head
    (repo / "notes.txt").write_text("untracked files do not make a tree dirty")
    assert git_revision(repo / "pkg") == head
    (repo / "pkg" / "mod.py").write_text("x = 2\n")
    assert git_revision(repo / "pkg") == head + "-dirty"


def test_source_revision_is_computed_once_per_process(tiny, monkeypatch, request):
    root, _, _ = tiny
    calls = []
    monkeypatch.setattr(runner, "git_revision", lambda folder: calls.append(folder) or "abc123")
    source_revision.cache_clear()
    request.addfinalizer(source_revision.cache_clear)  # later tests see the real revision again
    rows = [run_job(Job("zscore", UCR0, seed), str(root))[0] for seed in (0, 1)]
    assert [r["git_commit"] for r in rows] == ["abc123", "abc123"] and len(calls) == 1
    assert Path(calls[0]) == Path(anomalyforge.__file__).resolve().parent


def test_job_keys_are_stable():
    """Resuming a run depends on keys: the same job must keep its key across versions."""
    assert Job("iforest", "UCR/001_x", 3, {"window": 10, "n_estimators": 20}).key == "iforest|UCR/001_x|3|b2df56e2f9"


# the results table as the first release wrote it (no training / params / provenance columns)
OLD_SCHEMA = """
CREATE TABLE results (
    job_key TEXT PRIMARY KEY, detector TEXT NOT NULL, dataset TEXT NOT NULL, series TEXT NOT NULL,
    seed INTEGER NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, error TEXT, n_train INTEGER,
    n_test INTEGER, n_channels INTEGER, fit_seconds REAL, score_seconds REAL, peak_mb REAL, vus_pr REAL,
    vus_roc REAL, aupr REAL, auroc REAL, best_f1 REAL, pa_f1 REAL, affiliation_f1 REAL, pate REAL,
    metrics TEXT, finished_at TEXT DEFAULT CURRENT_TIMESTAMP
)
"""
OLD_COLUMNS = ("job_key, detector, dataset, series, seed, params, status, error, n_train, n_test, n_channels, "
               "fit_seconds, score_seconds, peak_mb, vus_pr, vus_roc, aupr, auroc, best_f1, pa_f1, "
               "affiliation_f1, pate, metrics, finished_at")


def test_an_older_store_opens_resumes_merges_and_reports(tiny):
    root, suite, out = tiny
    series = resolve_suite(str(suite), root).series
    jobs = make_jobs(["zscore"], series, [0])
    execute_jobs(jobs, ResultStore(out / "new" / "results.sqlite"), out / "new" / "scores", data_root=str(root),
                 progress=False)
    (out / "old").mkdir()
    with sqlite3.connect(out / "old" / "results.sqlite") as con:
        con.execute(OLD_SCHEMA)
        con.execute(f"ATTACH DATABASE '{out / 'new' / 'results.sqlite'}' AS new")
        con.execute(f"INSERT INTO results SELECT {OLD_COLUMNS} FROM new.results")
    # an old store merges into a new one as it is (the source is only read)
    _, copied = merge_results(out / "all", [out / "old"], data_root=str(root))
    assert copied == 4
    with sqlite3.connect(out / "old" / "results.sqlite") as con:
        assert "budget_cut" not in {r[1] for r in con.execute("PRAGMA table_info(results)")}
    # opening it adds the new columns; the finished jobs are still skipped on resume
    store = ResultStore(out / "old" / "results.sqlite")
    with sqlite3.connect(store.path) as con:
        assert {"budget_cut", "training", "git_commit", "run_params"} <= {r[1] for r in
                                                                         con.execute("PRAGMA table_info(results)")}
    assert execute_jobs(jobs, store, out / "old" / "scores", data_root=str(root), progress=False) == (0, 0, 4)
    frame = store.frame()
    assert len(frame) == 4 and frame.git_commit.isna().all() and frame.vus_pr.notna().all()
    report, _ = merge_results(out / "old", [], data_root=str(root))
    text = report.markdown.read_text()
    assert "| zscore | 2 | 4 | 0 | 0 |" in text  # old rows: no budget flag, counted as not cut
    assert "| unrecorded | unrecorded | 4 |" in text and "(given parameters only: older store)" in text
    assert "unrecorded (older store) ×4" in text
    # a store from a later version, with a column this one does not know, still merges
    with sqlite3.connect(out / "old" / "results.sqlite") as con:
        con.execute("ALTER TABLE results ADD COLUMN from_a_later_version TEXT")
    _, copied = merge_results(out / "later", [out / "old"], data_root=str(root))
    assert copied == 4


def _synthetic_row(detector, series, vus_pr, seed=0, *, failed=False, budget=False, params=None):
    """A results row as run_job writes it, every metric equal to ``vus_pr``."""
    reason = "time budget" if budget else "patience"
    summary = {"parts": {"model": {"epochs_run": 4 if budget else 9, "stopped_by": reason}},
               "stopped_by": {"model": reason}, "epochs": {"model": 4 if budget else 9}, "budget_cut": budget}
    row = {"job_key": f"{detector}|{series}|{seed}|x", "detector": detector, "dataset": series.split("/")[0],
           "series": series, "seed": seed, "params": params or {}, "status": "error" if failed else "ok",
           "version": "9.9.9", "git_commit": "cafe123", "run_params": {"alpha": 1, **(params or {})}}
    if failed:
        return {**row, "error": "RuntimeError: hard series"}
    return {**row, "fit_seconds": 1.0, "score_seconds": 1.0, "training": summary, "budget_cut": budget,
            "training_end": f"model: {reason}", "metrics": {m: vus_pr for m in ("vus_pr", "aupr", "auroc",
                                                                                  "best_f1", "affiliation_f1",
                                                                                  "pate")}}


def _write_rows(folder, rows):
    store = ResultStore(folder / "results.sqlite")
    for row in rows:
        store.write(row)
    return store


EASY, HARD = ["X/easy1", "X/easy2"], ["X/hard1", "X/hard2"]


def test_report_counts_failed_jobs_as_worst_and_marks_budget_cuts(tmp_path):
    # 'fragile' matches 'steady' on the easy series and fails on the hard ones: it must not rank above it
    rows = [_synthetic_row("steady", s, 0.9) for s in EASY] + [_synthetic_row("steady", s, 0.3) for s in HARD]
    rows += [_synthetic_row("fragile", s, 0.9) for s in EASY] + [_synthetic_row("fragile", s, 0, failed=True)
                                                                  for s in HARD]
    rows += [_synthetic_row("cut", s, 0.5, budget=(s == "X/hard1"), params={"epochs": 3}) for s in EASY + HARD]
    _write_rows(tmp_path, rows)
    overall, per_dataset = summary_tables(ResultStore(tmp_path / "results.sqlite").frame())
    assert list(overall.index) == ["steady", "cut", "fragile"]
    assert overall.loc["fragile", "vus_pr"] == pytest.approx(0.45) and overall.loc["steady", "vus_pr"] == 0.6
    assert overall.loc["fragile", "failed"] == 2 and overall.loc["steady", "failed"] == 0
    assert overall.loc["cut", "budget"] == 1 and overall.loc["steady", "budget"] == 0
    assert list(per_dataset["X"].index) == ["steady", "cut", "fragile"]
    report = build_report(tmp_path)
    text = report.markdown.read_text()
    assert "a failed job counts as the worst score (0)" in text and "| failed | budget |" in text
    assert "| steady | 1 | 4 | 0 | 0 | 0.600 |" in text and "| fragile | 1 | 4 | 2 | 0 | 0.450 |" in text
    # per-series table: detector columns, budget and failure markers
    assert "## VUS-PR per series" in text and "| series | cut | fragile | steady |" in text
    assert "| X/hard1 | 0.500† | failed | 0.300 |" in text and "| X/easy1 | 0.500 | 0.900 | 0.900 |" in text
    # how training ended, every parameter run, provenance
    assert "| cut | model | patience ×3, time budget ×1 | 4–9 | 4 |" in text
    assert '- cut (4 jobs): {"alpha": 1, "epochs": 3}' in text and '- steady (4 jobs): {"alpha": 1}' in text
    assert "| 9.9.9 | cafe123 | 12 |" in text
    assert "RuntimeError: hard series" in text
    page = report.html.read_text()
    assert "<h2>VUS-PR per series</h2>" in page and "0.500†" in page and "cafe123" in page
    assert "steady" in report.table and "budget" in report.table


def test_per_series_table_marks_partial_failures_and_missing_jobs(tmp_path):
    rows = [_synthetic_row("a", "X/s1", 0.8, seed=0), _synthetic_row("a", "X/s1", 0, seed=1, failed=True),
            _synthetic_row("b", "X/s2", 0.4, budget=True)]
    table = per_series_table(_write_rows(tmp_path, rows).frame())
    assert table.loc["X/s1", "a"] == "0.800✗1" and table.loc["X/s1", "b"] == ""
    assert table.loc["X/s2", "b"] == "0.400†" and table.loc["X/s2", "a"] == ""


def test_spread_across_series_and_seeds(tmp_path):
    rows = [_synthetic_row("a", "X/s1", v, seed) for seed, v in enumerate((0.8, 0.6))]
    rows += [_synthetic_row("a", "X/s2", 0.4, seed) for seed in (0, 1)]
    rows += [_synthetic_row("a", "X/s3", 0, seed, failed=True) for seed in (0, 1)]  # failed = 0
    spread = spread_table(_write_rows(tmp_path / "seeds", rows).frame())
    per_series = np.array([0.7, 0.4, 0.0])
    assert spread.loc["a", "series"] == 3 and spread.loc["a", "mean"] == pytest.approx(per_series.mean())
    assert spread.loc["a", "std"] == pytest.approx(per_series.std(ddof=1))
    assert spread.loc["a", "IQR"] == pytest.approx(np.percentile(per_series, 75) - np.percentile(per_series, 25))
    assert spread.loc["a", "seeds"] == 2 and spread.loc["a", "seed std"] == pytest.approx(np.std([0.8, 0.6],
                                                                                                 ddof=1) / 3)
    text = build_report(tmp_path / "seeds").markdown.read_text()
    assert "## Spread of VUS-PR" in text and "seed std" in text
    one_seed = spread_table(_write_rows(tmp_path / "one", [r for r in rows if r["seed"] == 0]).frame())
    assert "seed std" not in one_seed and one_seed.loc["a", "std"] == pytest.approx(np.std([0.8, 0.4, 0], ddof=1))


def test_critical_difference_caveat_below_ten_series(tmp_path):
    def frame_with(n_series, detectors=("a", "b", "c")):
        rng = np.random.default_rng(n_series)
        rows = [_synthetic_row(d, f"X/s{i}", float(rng.random())) for i in range(n_series) for d in detectors]
        return _write_rows(tmp_path / f"{n_series}{len(detectors)}", rows).frame()

    few = cd_caveat(frame_with(4), drawn=True)
    assert "only 4 series" in few and "fewer than 10 series" in few
    assert cd_caveat(frame_with(12), drawn=True) is None
    assert "needs at least 3 detectors" in cd_caveat(frame_with(12, ("a", "b")), drawn=False)
    assert critical_difference(frame_with(12, ("a", "b")), tmp_path / "cd.png") is None
    build_report(tmp_path / "43")
    text = (tmp_path / "43" / "report.md").read_text()
    assert "fewer than 10 series" in text and "critical_difference.png" in text
    build_report(tmp_path / "123")
    assert "fewer than 10 series" not in (tmp_path / "123" / "report.md").read_text()


def test_a_failed_job_on_a_series_without_labels_gets_no_score(tmp_path):
    unlabelled = {**_synthetic_row("a", "X/nolabels", 0), "metrics": {}}
    rows = [unlabelled, _synthetic_row("b", "X/nolabels", 0, failed=True),
            _synthetic_row("a", "X/s1", 0.7), _synthetic_row("b", "X/s1", 0, failed=True)]
    scored = scored_rows(_write_rows(tmp_path, rows).frame()).set_index(["detector", "series"])
    assert np.isnan(scored.loc[("b", "X/nolabels"), "vus_pr"]) and scored.loc[("b", "X/s1"), "vus_pr"] == 0.0
    assert np.isnan(scored.loc[("a", "X/nolabels"), "vus_pr"]) and scored.loc[("a", "X/s1"), "vus_pr"] == 0.7
