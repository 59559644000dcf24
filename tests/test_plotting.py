"""The detect plot: small multiples, top channels, timestamps, log scores and the listed intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomalyforge.apps.plotting import _listing, _time_axis, interval_rows, merge_flagged, plot_scores


def test_merge_flagged_gives_inclusive_runs_with_peaks():
    flags = np.array([0, 1, 1, 0, 0, 1, 0, 1])
    scores = np.arange(8.0)
    assert merge_flagged(flags, scores) == [
        {"start": 1, "end": 2, "peak": 2.0, "top_channels": []},
        {"start": 5, "end": 5, "peak": 5.0, "top_channels": []},
        {"start": 7, "end": 7, "peak": 7.0, "top_channels": []},
    ]


def test_intervals_as_tuples_dicts_or_objects():
    class Alert:
        start, end, peak, top_channels = 3, 4, 1.5, ["x"]

    rows = interval_rows([(1, 2, 0.5, ["a", "b"]), {"start": 5, "end": 9, "peak": 2.0, "top_channels": ["c"]}, Alert()])
    assert [r["start"] for r in rows] == [1, 5, 3] and rows[0]["top_channels"] == ["a", "b"]
    assert rows[2] == {"start": 3, "end": 4, "peak": 1.5, "top_channels": ["x"]}


def test_listing_names_times_peaks_and_channels():
    x, is_time = _time_axis(3, ["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:02"])
    assert is_time
    lines = _listing(interval_rows([(1, 2, 3.25, ["cpu", "mem"])]), x, is_time)
    assert "2024-01-01 00:01:00" in lines[1] and "peak 3.25" in lines[1] and "cpu, mem" in lines[1]
    assert _time_axis(3, ["a", "b", "c"])[1] is False
    assert _listing([], np.arange(3), False) == ["flagged intervals: none"]


def test_plot_with_many_channels_timestamps_and_log_score(tmp_path):
    rng = np.random.default_rng(0)
    series = rng.normal(size=(300, 20))
    scores = np.abs(rng.normal(size=300)) + 0.01
    flagged = (scores > 2).astype(int)
    weights = np.zeros(20)
    weights[[3, 17]] = [0.7, 0.3]
    stamps = pd.date_range("2024-01-01", periods=300, freq="min").astype(str)
    path = plot_scores(series, {"knn": scores}, tmp_path / "p.png", flagged=flagged, threshold=2.0,
                       channel_names=[f"c{i}" for i in range(20)], timestamps=stamps, channel_weights=weights,
                       log_score=True, intervals=[(10, 12, 3.0, ["c3"])])
    assert path.stat().st_size > 10_000
    plot_scores(series[:, :2], {"a": scores - 1, "b": scores}, tmp_path / "q.png", log_score=True)  # symlog
