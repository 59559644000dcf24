"""`generate_for_series` and `compare_generators` (library side of `anomalyforge generate`)."""

from __future__ import annotations

import numpy as np
import pytest

import anomalyforge.datasets as datasets_pkg
from anomalyforge.apps.generate import anomalous_windows, compare_generators, generate_for_series
from anomalyforge.datasets.base import SeriesData

from .conftest import make_series

TINY_SVDD = {"epochs": 5, "hidden": 8, "time_budget": None}


def fake_series(train=True, anomalies=True):
    test = make_series(400, 3, seed=5)
    labels = np.zeros(400, dtype=np.int8)
    if anomalies:
        for s in (120, 300):
            test[s : s + 3] += 6.0
            labels[s : s + 3] = 1
    return SeriesData(
        name="FAKE/s1",
        dataset="FAKE",
        train=make_series(600, 3, seed=4) if train else None,
        test=test,
        labels=labels,
        channels=["a", "b", "c"],
    )


@pytest.fixture
def fake_loader(monkeypatch):
    calls = []

    def load(dataset, name, root=None, **options):
        calls.append((dataset, name, root))
        return fake_series(**load.kind)

    load.kind = {}
    monkeypatch.setattr(datasets_pkg, "load_series", load)
    return load, calls


def test_generate_for_series_writes_anomalies_and_plot(fake_loader, tmp_path):
    _, calls = fake_loader
    paths = generate_for_series("rules", "FAKE", "s1", tmp_path / "out", data_root="ROOT", window=50, n=25)
    assert calls == [("FAKE", "s1", "ROOT")]
    with np.load(paths["anomalies"]) as z:
        assert z["patched"].shape == z["anomalies"].shape == z["mask"].shape == (25, 50, 3)
        assert z["windows"].shape[1:] == (50, 3) and len(z["windows"]) == 25
        np.testing.assert_array_equal(z["mask"], z["patched"] != z["windows"][z["source"]])
        assert z["mask"].reshape(25, -1).any(axis=1).all()
    assert paths["plot"].stat().st_size > 10_000  # a real picture, not an empty file


def test_generate_more_anomalies_than_windows_reuses_sources(fake_loader, tmp_path):
    paths = generate_for_series("trend", "FAKE", "s1", tmp_path, window=300, n=400, stride=50)
    with np.load(paths["anomalies"]) as z:
        assert len(z["patched"]) == 400 and len(z["windows"]) == 7
        assert set(np.unique(z["source"])) == set(range(7))


def test_anomalous_windows_are_exactly_those_containing_a_label():
    data = fake_series()
    W = anomalous_windows(data.test, data.labels, 20, stride=1, max_windows=None)
    assert len(W) == 2 * (20 + 3 - 1)
    assert (W.max(axis=(1, 2)) > 4.0).all()
    assert len(anomalous_windows(data.test, data.labels, 20, max_windows=10)) == 10


def test_compare_generators_rows(fake_loader):
    rows = compare_generators(["global", "shapelet", "cutaddpaste"], "FAKE", "s1", window=50, n=60, n_regions=5)
    assert [r["generator"] for r in rows] == ["global", "shapelet", "cutaddpaste", "(normal windows)"]
    for r in rows:
        assert r["embedding"] == "features" and r["embedding_stopped_by"] == "not trained"
        assert 0 < r["arp"] <= 1
        assert 0 <= r["edi"] <= np.log(5) + 1e-9 and 0 <= r["edi_norm"] <= 1 + 1e-9
        assert r["n_generated"] == 60 and r["n_real"] > 0
    by = {r["generator"]: r for r in rows}
    # the real anomalies are spikes: spike injection must come closer to them than unchanged windows
    assert by["global"]["arp"] > by["(normal windows)"]["arp"]


def test_compare_in_the_deep_svdd_embedding(fake_loader):
    rows = compare_generators(
        ["global"], "FAKE", "s1", window=50, n=60, n_regions=5, embedding="svdd", embedding_params=TINY_SVDD
    )
    assert rows[0]["embedding"] == "svdd" and rows[0]["embedding_stopped_by"] == "epochs"
    assert all(0 < r["arp"] <= 1 for r in rows)
    with pytest.raises(ValueError, match="unknown embedding"):
        compare_generators(["global"], "FAKE", "s1", window=50, n=10, embedding="pca")


def test_compare_same_seed_same_numbers(fake_loader):
    kw = {"window": 50, "n": 30, "n_regions": 4, "include_normal": False}
    a = compare_generators(["rules"], "FAKE", "s1", **kw)
    b = compare_generators(["rules"], "FAKE", "s1", **kw)
    assert a[0]["arp"] == pytest.approx(b[0]["arp"]) and a[0]["edi"] == pytest.approx(b[0]["edi"])


def test_clear_errors(fake_loader, tmp_path):
    load, _ = fake_loader
    with pytest.raises(ValueError, match="shorter than the window"):
        generate_for_series("rules", "FAKE", "s1", tmp_path, window=1000)
    with pytest.raises(ValueError, match="at least one generator"):
        compare_generators([], "FAKE", "s1")
    load.kind = {"anomalies": False}
    with pytest.raises(ValueError, match="no labelled anomaly"):
        compare_generators(["rules"], "FAKE", "s1", window=50)
    load.kind = {"train": False}
    with pytest.raises(ValueError, match="no training part"):
        generate_for_series("rules", "FAKE", "s1", tmp_path)


def test_msl_c1_tiny(shared_data, tmp_path):
    paths = generate_for_series("rules", "MSL", "C-1", tmp_path, data_root=shared_data, window=100, n=20)
    with np.load(paths["anomalies"]) as z:
        assert z["patched"].shape == (20, 100, 55)
    rows = compare_generators(
        ["rules", "ncad"], "MSL", "C-1", data_root=shared_data, window=100, n=40, max_real=40
    )
    assert len(rows) == 3 and all(0 < r["arp"] <= 1 and r["n_real"] == 40 for r in rows)
