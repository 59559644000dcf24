"""The real command line on small files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from anomalyforge.cli import main

from .bench_fixtures import write_suite, write_tiny_root


def _csv(path, n=500, label=True, timestamp=True, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = pd.DataFrame({"a": np.sin(t / 5) + 0.05 * rng.normal(size=n), "b": np.cos(t / 7)})
    if timestamp:
        frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=n, freq="min").astype(str))
    if label:
        frame["label"] = 0
        frame.loc[300:305, "label"] = 1
    frame.loc[300:305, "a"] += 5
    frame.to_csv(path, index=False)
    return path


def test_detectors_lists_names_with_descriptions(capsys):
    assert main(["detectors"]) == 0
    out = capsys.readouterr().out
    assert "iforest" in out and "Isolation forest" in out


def test_detect_writes_scores_and_plot(tmp_path):
    series = _csv(tmp_path / "series.csv")
    train = _csv(tmp_path / "train.csv", label=False, seed=1)
    result = subprocess.run(
        [sys.executable, "-m", "anomalyforge.cli", "detect", str(series), "--train", str(train),
         "--detector", "iforest", "--param", "window=10", "--param", "n_estimators=50", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(tmp_path / "o" / "scores.csv")
    assert list(scores.columns) == ["step", "timestamp", "score", "prediction", "label"]
    assert len(scores) == 500 and scores.prediction.isin([0, 1]).all()
    assert scores.score[295:310].max() > scores.score.quantile(0.95)
    assert (tmp_path / "o" / "plot.png").stat().st_size > 10_000
    assert "vus_pr" in result.stdout and "plot.png" in result.stdout


def test_detect_without_train_fits_on_series(tmp_path, capsys):
    series = _csv(tmp_path / "s.csv", label=False, timestamp=False)
    assert main(["detect", str(series), "--detector", "zscore", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "fitted on the scored series itself" in capsys.readouterr().out
    assert list(pd.read_csv(tmp_path / "o" / "scores.csv").columns) == ["step", "score", "prediction"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("a,b\n1,2\n3,x\n", "not a number|non-numeric"),
        ("a,b\n1,2\n,4\n", "missing"),
    ],
)
def test_detect_bad_csv_gives_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["detect", str(path), "--detector", "zscore", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error" in err
    import re

    assert re.search(message, err)


def test_detect_unknown_detector_and_bad_param(tmp_path, capsys):
    series = _csv(tmp_path / "s.csv")
    assert main(["detect", str(series), "--detector", "nope", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "unknown detector 'nope'" in capsys.readouterr().err
    assert main(["detect", str(series), "--detector", "iforest", "--param", "window=5000",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "window" in capsys.readouterr().err


def test_datasets_command_counts(tmp_path, capsys):
    root = write_tiny_root(tmp_path / "data")
    assert main(["datasets", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "UCR" in out and " 3 " in out and "SMD" in out


def test_bench_command_prints_table(tmp_path, capsys):
    root = write_tiny_root(tmp_path / "data")
    suite = write_suite(tmp_path / "tiny.json")
    code = main(["bench", "--suite", str(suite), "--detectors", "zscore", "--data-root", str(root),
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "zscore" in out and "VUS-PR" in out and "report.html" in out


def test_bench_param_reaches_the_detector_and_bad_ones_fail(tmp_path, capsys):
    import json
    import sqlite3

    root = write_tiny_root(tmp_path / "data")
    suite = write_suite(tmp_path / "tiny.json")
    base = ["bench", "--suite", str(suite), "--detectors", "knn", "--data-root", str(root), "--quiet"]
    assert main([*base, "--out", str(tmp_path / "o"), "--param", "knn.n_neighbors=3"]) == 0
    with sqlite3.connect(tmp_path / "o" / "results.sqlite") as db:
        stored = {row[0] for row in db.execute("select params from results")}
    assert stored == {json.dumps({"n_neighbors": 3})}
    capsys.readouterr()
    for bad, message in [("knn.no_such=1", "has no parameter"), ("iforest.n_estimators=5", "not among"),
                         ("n_neighbors=3", "DETECTOR.KEY=VALUE")]:
        assert main([*base, "--out", str(tmp_path / "bad"), "--param", bad]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad" / "results.sqlite").exists()


def test_report_command_merges_runs(tmp_path, capsys):
    root = write_tiny_root(tmp_path / "data")
    suite = write_suite(tmp_path / "tiny.json")
    for name in ("zscore", "pca"):
        assert main(["bench", "--suite", str(suite), "--detectors", name, "--data-root", str(root),
                     "--out", str(tmp_path / name), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "both"), "--from", str(tmp_path / "zscore"), str(tmp_path / "pca"),
                 "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "zscore" in out and "pca" in out and "8 rows merged in" in out
    assert main(["report", str(tmp_path / "x"), "--from", str(tmp_path / "missing")]) == 2
    assert "no results store" in capsys.readouterr().err


def test_detect_unknown_param_lists_the_valid_ones_and_bad_value_names_it(tmp_path, capsys):
    series = _csv(tmp_path / "s.csv")
    base = ["detect", str(series), "--detector", "iforest", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--param", "n_trees=50"]) == 2
    err = capsys.readouterr().err
    assert "--param n_trees=50: detector 'iforest' has no parameter 'n_trees'" in err
    assert "valid parameters: window, n_estimators," in err
    assert main([*base, "--param", "n_estimators=many"]) == 2
    assert "--param n_estimators=many: n_estimators takes int, got 'many'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything ran


def test_params_are_read_as_json_and_checked_against_annotations():
    from anomalyforge.apps.params import bench_params, detector_params, generator_params, parse_params

    assert parse_params(["a=1", "b=0.5", "c=true", "d=null", "e=[1, 2]", "f=max", "g=x=y"]) == {
        "a": 1, "b": 0.5, "c": True, "d": None, "e": [1, 2], "f": "max", "g": "x=y"}
    assert detector_params("iforest", ["window=10", "contamination=0.1", "random_state=null", "how=mean"]) == {
        "window": 10, "contamination": 0.1, "random_state": None, "how": "mean"}
    with pytest.raises(ValueError, match=r"--param contamination=1: contamination takes a number in \(0.0, 0.5\)"):
        detector_params("iforest", ["contamination=1"])  # the declared range, before anything runs
    assert detector_params("iforest", None) == {}
    assert generator_params("rules", []) == {}
    assert bench_params(["knn.n_neighbors=3"], ["knn", "pca"]) == {"knn": {"n_neighbors": 3}}
    with pytest.raises(ValueError, match=r"--param knn\.k=3: detector 'knn' has no parameter 'k'; valid"):
        bench_params(["knn.k=3"], ["knn"])
    with pytest.raises(ValueError, match="--param window=0.5: window takes int, got 0.5"):
        detector_params("iforest", ["window=0.5"])
    with pytest.raises(ValueError, match="expects key=value"):
        detector_params("iforest", ["window"])


# ------------------------------------------------------------------------------------------ CLI habits
def test_version_flag(capsys):
    from anomalyforge import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"anomalyforge {__version__}"


def test_detect_json_summary_and_log_score(tmp_path, capsys):
    import json

    series = _csv(tmp_path / "s.csv")
    assert main(["detect", str(series), "--detector", "zscore", "--out", str(tmp_path / "o"), "--json",
                 "--log-score"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["detector"] == "zscore" and summary["n_steps"] == 500
    assert summary["n_flagged"] == sum(i["end"] - i["start"] + 1 for i in summary["intervals"])
    top = max(summary["intervals"], key=lambda i: i["peak_score"])
    assert 300 <= top["start"] <= 305 and top["top_channels"][0] == "a"
    assert (tmp_path / "o" / "plot.png").stat().st_size > 10_000


def test_datasets_json(tmp_path, capsys):
    import json

    root = write_tiny_root(tmp_path / "data")
    assert main(["datasets", "--root", str(root), "--json"]) == 0
    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["UCR"]["series"] == 3 and rows["SMD"]["series"] == 2


def test_param_constraints_are_reported_as_typed(tmp_path, capsys):
    series = _csv(tmp_path / "s.csv")
    base = ["detect", str(series), "--detector", "iforest", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--param", "how=median"]) == 2
    assert "--param how=median: how takes one of 'max', 'mean', 'min', 'last', got 'median'" in capsys.readouterr().err
    assert main([*base, "--param", "contamination=0.9"]) == 2
    assert "--param contamination=0.9: contamination takes a number in (0.0, 0.5)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_a_clean_error(tmp_path, capsys):
    series = _csv(tmp_path / "s.csv")
    existing = tmp_path / "taken.txt"
    existing.write_text("x")
    assert main(["detect", str(series), "--detector", "zscore", "--out", str(existing), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is an existing file, not a folder" in err and "Traceback" not in err
    assert main(["bench", "--suite", "demo", "--detectors", "zscore", "--out", str(existing), "--quiet"]) == 2
    assert "is an existing file" in capsys.readouterr().err


def test_bench_exits_non_zero_when_every_job_failed(tmp_path, capsys):
    root = write_tiny_root(tmp_path / "data")
    suite = write_suite(tmp_path / "tiny.json")
    code = main(["bench", "--suite", str(suite), "--detectors", "knn", "--data-root", str(root),
                 "--out", str(tmp_path / "o"), "--param", "knn.window=100000", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "every job failed" in err and "knn on " in err and "100000" in err


def test_report_on_a_folder_without_results_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 1
    assert "no results in" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()
    from anomalyforge.bench import ResultStore

    ResultStore(tmp_path / "empty" / "results.sqlite")  # a store with no rows
    assert main(["report", str(tmp_path / "empty")]) == 1
    assert "holds no rows" in capsys.readouterr().err


def test_csv_without_header_is_read_headerless_with_a_notice(tmp_path, capsys):
    path = tmp_path / "nohead.csv"
    rng = np.random.default_rng(0)
    np.savetxt(path, rng.normal(size=(60, 3)), delimiter=",", fmt="%.5f")
    assert main(["detect", str(path), "--detector", "zscore", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "notice" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "o" / "scores.csv")) == 60  # the first row is data, not a header

    from anomalyforge.datasets.generic import load_generic

    stamped = tmp_path / "stamped.csv"
    stamped.write_text("2024-01-01 00:00:00,1.5,2\n2024-01-01 00:01:00,1.0,3\n2024-01-01 00:02:00,0.5,4\n")
    data = load_generic(stamped)
    assert data.channels == ["ch0", "ch1"] and data.test.shape == (3, 2) and "notice" in data.meta
    assert len(data.meta["test_timestamps"]) == 3
    assert "notice" not in load_generic(_csv(tmp_path / "h.csv")).meta  # a real header stays a header
    gap = tmp_path / "gap.csv"
    gap.write_text("1,,3\n4,5,6\n7,8,9\n")
    assert load_generic(gap, fill="ffill").test.shape == (3, 3)  # an empty cell in the first row is still data


def test_hints_use_command_line_syntax(tmp_path, capsys):
    path = tmp_path / "gap.csv"
    path.write_text("a,b\n1,2\n,4\n5,6\n")
    assert main(["detect", str(path), "--detector", "zscore", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--fill ffill" in err and "fill='ffill'" not in err
    path.write_text("a,when\n1,x\n2,y\n")
    assert main(["detect", str(path), "--detector", "zscore", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "channels=[" not in err and "timestamp" in err
