"""core.intervals: the one merge rule, batch and online alike, and calibrated peak p-values."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyforge.core.intervals import IntervalTracker, calibrated_p_values, flag_intervals


def test_runs_merge_across_short_gaps_and_short_intervals_drop():
    flags = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.arange(len(flags), dtype=float)
    scores[2] = 50
    assert [(a.start, a.end) for a in flag_intervals(flags, scores)] == [(1, 2), (4, 4), (8, 8), (10, 12)]
    merged = flag_intervals(flags, scores, max_gap=1)
    assert [(a.start, a.end) for a in merged] == [(1, 4), (8, 12)]
    assert merged[0].peak_step == 2 and merged[0].peak_score == 50 and merged[1].length == 5
    assert [(a.start, a.end) for a in flag_intervals(flags, scores, min_length=2)] == [(1, 2), (10, 12)]


def test_tracker_in_chunks_gives_the_batch_intervals():
    rng = np.random.default_rng(0)
    flags = (rng.random(500) < 0.15).astype(int)
    scores = rng.normal(size=500)
    stamps = [f"t{i}" for i in range(500)]
    p = calibrated_p_values(scores, rng.normal(size=100))
    batch = flag_intervals(flags, scores, max_gap=2, min_length=2, timestamps=stamps, p_values=p)
    tracker = IntervalTracker(max_gap=2, min_length=2)
    online, i = [], 0
    while i < 500:
        k = int(rng.integers(1, 9))
        online += tracker.update(i, flags[i : i + k], scores[i : i + k], timestamps=stamps[i : i + k],
                                 p_values=p[i : i + k])  # fmt: skip
        i += k
    online += tracker.close()
    assert [a.as_dict() for a in online] == [a.as_dict() for a in batch]
    assert batch[0].start_timestamp == f"t{batch[0].start}"


def test_an_interval_closes_as_soon_as_the_gap_is_too_long():
    tracker = IntervalTracker(max_gap=1)
    assert tracker.update(0, [1, 1, 0], [1, 2, 0]) == []
    closed = tracker.update(3, [0], [0])
    assert [(a.start, a.end, a.peak_step) for a in closed] == [(0, 1, 1)]
    with pytest.raises(ValueError, match="in order"):
        tracker.update(10, [1], [1])


def test_calibrated_p_values_are_conformal():
    ref = np.arange(9.0)  # 9 reference scores
    np.testing.assert_allclose(calibrated_p_values([100, 8, -1], ref), [1 / 10, 2 / 10, 1.0])


def test_attribution_hook_fills_top_channels_and_rows_have_every_column():
    [a] = flag_intervals([0, 1, 1], [0, 3, 1], attribute=lambda iv: ["b", "a"])
    assert a.top_channels == ["b", "a"]
    row = a.as_row()
    assert row["top_channels"] == "b;a" and row["peak_p_value"] is None and list(row)[0] == "start"


def test_tracker_state_roundtrip_continues_identically():
    import json

    rng = np.random.default_rng(4)
    flags, scores = (rng.random(300) > 0.8).astype(int), rng.random(300)
    whole = flag_intervals(flags, scores, max_gap=2, min_length=2)
    tracker = IntervalTracker(max_gap=2, min_length=2)
    got = tracker.update(0, flags[:137], scores[:137])
    restored = IntervalTracker.from_state(json.loads(json.dumps(tracker.state_dict())))
    got += restored.update(137, flags[137:], scores[137:]) + restored.close()
    assert [iv.as_dict() for iv in got] == [iv.as_dict() for iv in whole]
