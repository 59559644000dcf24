"""fit / score / stream on the command line: the data schema, the outputs, follow mode, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from anomalyforge.apps.fitscore import load_fitted
from anomalyforge.apps.stream import read_lines, run_stream
from anomalyforge.cli import main


def _csv(path, n=300, seed=0, spike=True, columns=("timestamp", "a", "b", "label")):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
        "a": np.sin(t / 5) + 0.05 * rng.normal(size=n),
        "b": np.cos(t / 7) + 0.05 * rng.normal(size=n),
        "label": 0,
    })  # fmt: skip
    if spike:
        frame.loc[200:204, "a"] += 6
        frame.loc[200:204, "label"] = 1
    frame[list(columns)].to_csv(path, index=False)
    return path


@pytest.fixture
def model(tmp_path):
    train = _csv(tmp_path / "train.csv", seed=1, spike=False, columns=("timestamp", "a", "b"))
    path = tmp_path / "m.safetensors"
    assert main(["fit", str(train), "--detector", "pca", "--param", "window=8", "--out", str(path)]) == 0
    return path


def _records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_fit_saves_the_data_schema(model):
    det, schema, metadata = load_fitted(model)
    assert schema.channels == ("a", "b") and schema.timestamp_column == "timestamp" and schema.label_column is None
    assert schema.fill == "none" and metadata["trained_on"].endswith("train.csv") and det.window == 8


def test_score_writes_detect_outputs_and_reorders_columns(model, tmp_path, capsys):
    series = _csv(tmp_path / "new.csv")
    assert main(["score", str(model), str(series), "--out", str(tmp_path / "o")]) == 0
    out = tmp_path / "o"
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["step", "timestamp", "score", "prediction", "label"]
    assert (out / "plot.png").exists() and "vus_pr" in json.loads((out / "metrics.json").read_text())
    intervals = pd.read_csv(out / "intervals.csv")
    assert list(intervals.columns)[:3] == ["start", "end", "length"] and "top_channels" in intervals.columns
    assert ((intervals.start <= 204) & (intervals.end >= 200)).any()
    assert intervals.peak_p_value.between(0, 1).all()
    swapped = _csv(tmp_path / "swapped.csv", columns=("b", "timestamp", "label", "a"))
    assert main(["score", str(model), str(swapped), "--out", str(tmp_path / "o2")]) == 0
    assert "reordered by name" in capsys.readouterr().err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "o2" / "scores.csv").score, scores.score, rtol=0, atol=1e-12)


def test_score_names_missing_and_extra_columns(model, tmp_path, capsys):
    frame = pd.read_csv(_csv(tmp_path / "new.csv"))
    frame.rename(columns={"b": "c"}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["score", str(model), str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) 'b'" in err and "extra column(s) 'c'" in err
    (tmp_path / "junk.safetensors").write_text("not a model")
    assert main(["score", str(tmp_path / "junk.safetensors"), str(tmp_path / "bad.csv"), "--out", "x"]) == 2
    assert "not a readable safetensors" in capsys.readouterr().err


def test_detect_is_fit_plus_score(model, tmp_path):
    series = _csv(tmp_path / "new.csv")
    train = tmp_path / "train.csv"
    assert main(["detect", str(series), "--train", str(train), "--detector", "pca", "--param", "window=8",
                 "--out", str(tmp_path / "d"), "--save-model", "--quiet"]) == 0  # fmt: skip
    assert main(["score", str(model), str(series), "--out", str(tmp_path / "s")]) == 0
    for name in ("scores.csv", "intervals.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "d" / name), pd.read_csv(tmp_path / "s" / name))
    assert load_fitted(tmp_path / "d" / "model.safetensors")[1].channels == ("a", "b")


def test_stream_file_equals_score(model, tmp_path):
    series = _csv(tmp_path / "new.csv")
    out = io.StringIO()
    summary = run_stream(model, str(series), out=out, err=io.StringIO())
    records = _records(out.getvalue())
    steps = [r for r in records if "step" in r]
    alerts = [r["alert"] for r in records if "alert" in r]
    assert [r["step"] for r in steps] == list(range(300)) and steps[0]["timestamp"] == "2024-01-01 00:00:00"
    assert main(["score", str(model), str(series), "--out", str(tmp_path / "s")]) == 0
    batch = pd.read_csv(tmp_path / "s" / "scores.csv")
    np.testing.assert_allclose([r["score"] for r in steps], batch.score, rtol=0, atol=1e-9)
    assert [r["flag"] for r in steps] == batch.prediction.tolist()
    intervals = pd.read_csv(tmp_path / "s" / "intervals.csv")
    assert [(a["start"], a["end"]) for a in alerts] == list(zip(intervals.start, intervals.end, strict=True))
    assert summary.latency == 7 and summary.alerts == len(alerts)


def test_stream_stdin_subprocess(model, tmp_path):
    text = _csv(tmp_path / "new.csv").read_text()
    result = subprocess.run([sys.executable, "-m", "anomalyforge.cli", "stream", str(model), "-"], input=text,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sum("step" in r for r in _records(result.stdout)) == 300


def test_follow_waits_for_a_partial_line_and_stops_when_idle(model, tmp_path):
    path = tmp_path / "live.csv"
    lines = _csv(tmp_path / "new.csv", n=60).read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:30]) + lines[30][:5])  # a row cut in the middle

    def append():
        time.sleep(0.4)
        with open(path, "a") as fh:
            fh.write(lines[30][5:] + "".join(lines[31:]) + "0,1")  # ends with another incomplete line
            fh.flush()

    writer = threading.Thread(target=append)
    writer.start()
    out, err = io.StringIO(), io.StringIO()
    summary = run_stream(model, str(path), follow=True, idle_timeout=1.0, poll=0.05, out=out, err=err)
    writer.join()
    assert summary.rows == 60 and summary.pending_line == "0,1"
    assert "incomplete" in err.getvalue() and "'0,1'" in err.getvalue()
    assert [r["step"] for r in _records(out.getvalue()) if "step" in r] == list(range(60))


def test_read_lines_keeps_a_partial_line_until_it_is_complete(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n2")
    with open(path, "rb") as fh:
        assert list(read_lines(fh)) == [["h", "1"], ["2"]]  # input ended: the last line is complete
    leftover = []
    with open(path, "rb") as fh:
        assert list(read_lines(fh, follow=True, idle_timeout=0.2, poll=0.05, leftover=leftover)) == [["h", "1"]]
    assert leftover == [b"2"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-01 05:00:00,1.0,0", "has 3 fields, the header has 4"),
        ("2024-01-01 05:00:00,abc,1.0,0", "column 'a': 'abc' is not a number"),
        ("2024-01-01 05:00:00,,1.0,0", "column 'a' is empty (a missing value); pass --fill ffill"),
    ],
)
def test_stream_bad_rows_are_clear_errors(model, tmp_path, row, message, capsys):
    path = _csv(tmp_path / "new.csv", n=20)
    with open(path, "a") as fh:
        fh.write(row + "\n")
    assert main(["stream", str(model), str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "line 22" in captured.err
    assert sum("step" in r for r in _records(captured.out)) == 20 - 7  # the final steps before the bad row


def test_stream_fill_carries_the_last_value(model, tmp_path, capsys):
    path = _csv(tmp_path / "new.csv", n=20)
    with open(path, "a") as fh:
        fh.write("2024-01-01 05:00:00,,1.0,0\n")
    assert main(["stream", str(model), str(path), "--fill", "ffill"]) == 0
    assert sum("step" in r for r in _records(capsys.readouterr().out)) == 21


def test_stream_of_a_context_detector_equals_score(tmp_path):
    train = _csv(tmp_path / "train.csv", n=150, spike=False, columns=("a", "b"))
    series = _csv(tmp_path / "new.csv", n=80, columns=("a", "b"))
    path = tmp_path / "m2ad.safetensors"
    assert main(["fit", str(train), "--detector", "m2ad", "--param", "window=8", "--param", "epochs=1",
                 "--param", "hidden_size=4", "--out", str(path)]) == 0  # fmt: skip
    out = io.StringIO()
    run_stream(path, str(series), out=out, err=io.StringIO())
    assert main(["score", str(path), str(series), "--out", str(tmp_path / "s")]) == 0
    batch = pd.read_csv(tmp_path / "s" / "scores.csv").score
    streamed = [r["score"] for r in _records(out.getvalue()) if "step" in r]
    np.testing.assert_allclose(streamed, batch, rtol=1e-6, atol=1e-6 * batch.abs().max())  # float32 LSTM


def test_fit_and_score_a_headerless_csv(tmp_path):
    """A CSV without a header is read headerless by fit and by score alike (never its first row as names)."""
    from anomalyforge.cli import main

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "train.csv", rng.normal(size=(200, 2)), delimiter=",", fmt="%.5f")
    np.savetxt(tmp_path / "new.csv", rng.normal(size=(80, 2)), delimiter=",", fmt="%.5f")
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "train.csv"), "--detector", "zscore", "--out", str(model)]) == 0
    assert main(["score", str(model), str(tmp_path / "new.csv"), "--out", str(tmp_path / "o")]) == 0
    assert len(pd.read_csv(tmp_path / "o" / "scores.csv")) == 80


def test_detect_says_so_when_far_more_steps_are_flagged_than_the_threshold_was_set_for(tmp_path, capsys):
    from anomalyforge.cli import main

    rng = np.random.default_rng(1)
    pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"]).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(rng.normal(size=(100, 2)) + 6, columns=["a", "b"]).to_csv(tmp_path / "shifted.csv", index=False)
    pd.DataFrame(rng.normal(size=(100, 2)), columns=["a", "b"]).to_csv(tmp_path / "same.csv", index=False)
    args = ["--train", str(tmp_path / "train.csv"), "--detector", "zscore", "--quiet"]
    assert main(["detect", str(tmp_path / "shifted.csv"), *args, "--out", str(tmp_path / "o1")]) == 0
    assert "times the contamination" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "same.csv"), *args, "--out", str(tmp_path / "o2")]) == 0
    assert "times the contamination" not in capsys.readouterr().err
