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
    assert detector_params("iforest", ["window=10", "contamination=1", "random_state=null", "how=mean"]) == {
        "window": 10, "contamination": 1, "random_state": None, "how": "mean"}
    assert detector_params("iforest", None) == {}
    assert generator_params("rules", []) == {}
    assert bench_params(["knn.n_neighbors=3"], ["knn", "pca"]) == {"knn": {"n_neighbors": 3}}
    with pytest.raises(ValueError, match=r"--param knn\.k=3: detector 'knn' has no parameter 'k'; valid"):
        bench_params(["knn.k=3"], ["knn"])
    with pytest.raises(ValueError, match="--param window=0.5: window takes int, got 0.5"):
        detector_params("iforest", ["window=0.5"])
    with pytest.raises(ValueError, match="expects key=value"):
        detector_params("iforest", ["window"])
