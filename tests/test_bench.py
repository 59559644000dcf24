"""The benchmark harness on tiny data roots: jobs, SQLite store, resume, failures, parallel runs, report."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import numpy as np
import pytest

from anomalyforge.bench import ResultStore, make_jobs, merge_results, resolve_suite, run_benchmark
from anomalyforge.bench.runner import execute_jobs
from anomalyforge.bench.suites import available_suites

from .bench_fixtures import write_suite, write_tiny_root

FAST = {"iforest": {"window": 10, "n_estimators": 20}, "pca": {"window": 10}, "zscore": {}}


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
    assert all(0.0 <= r[2] <= 1.0 for r in rows)
    # the planted +3 / +4 bumps are easy: the z-score baseline must find them
    frame = ResultStore(out / "results.sqlite").frame()
    assert frame[frame.detector == "zscore"].auroc.min() > 0.9
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
