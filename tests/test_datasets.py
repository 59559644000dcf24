"""Dataset loaders: each published layout written tiny into tmp_path, plus the shared benchmark folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalyforge import datasets as ds
from anomalyforge.datasets import _io, base
from anomalyforge.datasets.base import SeriesData, labels_to_ranges, ranges_to_labels


def write(path: Path, text: str, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def rows(a: np.ndarray) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in a)


# ----------------------------------------------------------------------------------------------- basics


def test_ranges_round_trip():
    labels = np.array([1, 1, 0, 0, 1, 0, 1], dtype=np.int8)
    assert labels_to_ranges(labels) == [(0, 2), (4, 5), (6, 7)]
    np.testing.assert_array_equal(ranges_to_labels([(0, 2), (4, 5), (6, 7)], 7), labels)
    assert labels_to_ranges(np.zeros(4)) == []
    with pytest.raises(ValueError, match="not inside"):
        ranges_to_labels([(3, 9)], 5)


def test_series_data_checks_shapes():
    s = SeriesData("X/a", "X", None, np.arange(4.0), np.array([0, 1, 1, 0]), ["v"])
    assert s.test.shape == (4, 1) and s.labels.dtype == np.int8 and s.n_channels == 1
    assert s.anomaly_ranges == [(1, 3)]
    with pytest.raises(ValueError, match="3 labels for a test part of 4"):
        SeriesData("X/a", "X", None, np.zeros((4, 2)), np.zeros(3), ["a", "b"])
    with pytest.raises(ValueError, match="0 or 1"):
        SeriesData("X/a", "X", None, np.zeros((2, 1)), np.array([0, 2]), ["a"])
    with pytest.raises(ValueError, match="train has 1 channels but test has 2"):
        SeriesData("X/a", "X", np.zeros((3, 1)), np.zeros((2, 2)), np.zeros(2), ["a", "b"])


def test_root_resolution(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        base.resolve_root(tmp_path / "missing")
    monkeypatch.setenv(base.ENV_VAR, str(tmp_path))
    assert base.resolve_root() == tmp_path
    monkeypatch.setenv(base.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="ANOMALYFORGE_DATA"):
        base.resolve_root()
    monkeypatch.delenv(base.ENV_VAR)
    work = tmp_path / "a" / "main"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(base, "_REPO_DIR", work)
    with pytest.raises(FileNotFoundError, match="no benchmark data folder"):
        base.resolve_root()
    (tmp_path / "a" / "shared" / "datasets").mkdir(parents=True)
    assert base.resolve_root() == (tmp_path / "a" / "shared" / "datasets").resolve()


def test_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'foo'"):
        ds.list_series("foo", tmp_path)
    with pytest.raises(FileNotFoundError, match="SMD not found"):
        ds.list_series("SMD", tmp_path)


# ------------------------------------------------------------------------------------------------- SMD


def make_smd(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = root / "SMD" / "ServerMachineDataset"
    rng = np.random.default_rng(0)
    train, test = rng.random((6, 3)).round(4), rng.random((5, 3)).round(4)
    labels = np.array([0, 1, 1, 0, 1])
    write(d / "train" / "machine-1-1.txt", rows(train), gz=True)
    write(d / "test" / "machine-1-1.txt", rows(test), gz=True)
    write(d / "test_label" / "machine-1-1.txt", "".join(f"{v}\n" for v in labels))
    write(d / "interpretation_label" / "machine-1-1.txt", "1-3:1,3\n4-5:2\n")
    write(d / "train" / "machine-2-1.txt", rows(train))
    write(d / "test" / "machine-2-1.txt", rows(test))
    write(d / "test_label" / "machine-2-1.txt", "".join(f"{v}\n" for v in labels))
    return train, test, labels


def test_smd_layout(tmp_path):
    train, test, labels = make_smd(tmp_path)
    assert ds.list_series("SMD", tmp_path) == ["SMD/machine-1-1", "SMD/machine-2-1"]
    s = ds.load_series("SMD", "machine-1-1", tmp_path)
    np.testing.assert_array_equal(s.train, train)
    np.testing.assert_array_equal(s.test, test)
    np.testing.assert_array_equal(s.labels, labels)
    assert s.anomaly_ranges == [(1, 3), (4, 5)]
    assert s.channels == ["dim_0", "dim_1", "dim_2"] and s.name == "SMD/machine-1-1"
    assert s.meta["interpretation"] == [(1, 3, [0, 2]), (4, 5, [1])]
    plain = next(ds.load_smd(tmp_path, names=["SMD/machine-2-1"]))  # plain .txt, no interpretation file
    np.testing.assert_array_equal(plain.test, test)
    assert plain.meta["interpretation"] is None
    assert len(list(ds.load_smd(tmp_path))) == 2
    # the dataset folder itself may be given as root
    assert ds.list_series("SMD", tmp_path / "SMD" / "ServerMachineDataset") == ["SMD/machine-1-1", "SMD/machine-2-1"]


@pytest.mark.parametrize(
    "part, text, message",
    [
        ("test", "0.1,0.2,0.3\n0.1,0.2\n", r"machine-9-9.txt: line 2 has 2 fields, expected 3"),
        ("test", "0.1,0.2,0.3\n0.1,abc,0.3\n", r"line 2, column 1: 'abc' is not a number"),
        ("test", "0.1,0.2,0.3\n0.1,,0.3\n", r"line 2, column 1: .* missing"),
        ("test", "0.1,0.2,0.3\n\n0.1,0.2,0.3\n", r"line 2 is empty"),
        ("train", "0.1,0.2\n", r"train/machine-9-9.txt: line 1 has 2 fields, expected 3"),
        ("test_label", "0\n1\n0\n", r"3 labels but machine-9-9.txt has 2 rows"),
        ("test_label", "0\n2\n", r"line 2: label 2 is not 0/1"),
    ],
)
def test_smd_bad_files(tmp_path, part, text, message):
    d = tmp_path / "SMD" / "ServerMachineDataset"
    files = {"train": "0.1,0.2,0.3\n", "test": "0.1,0.2,0.3\n0.4,0.5,0.6\n", "test_label": "0\n1\n"}
    files[part] = text
    for sub, content in files.items():
        write(d / sub / "machine-9-9.txt", content)
    with pytest.raises(ValueError, match=message):
        ds.load_series("SMD", "machine-9-9", tmp_path)
    with pytest.raises(ValueError, match="did you mean machine-9-9"):
        ds.load_series("SMD", "machine-9-8", tmp_path)


# --------------------------------------------------------------------------------------------- MSL/SMAP


def make_nasa(d: Path, num_values: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {}
    for chan in ("C-1", "P-1", "P-2"):
        for part, n in (("train", 6), ("test", 8)):
            (d / part).mkdir(parents=True, exist_ok=True)
            arrays[f"{part}/{chan}"] = rng.random((n, 3))
            np.save(d / part / f"{chan}.npy", arrays[f"{part}/{chan}"])
    (d / "labeled_anomalies.csv").write_text(
        "chan_id,spacecraft,anomaly_sequences,class,num_values\n"
        f'C-1,MSL,"[[2, 3]]",[point],{num_values}\n'
        f'P-1,SMAP,"[[0, 0], [5, 7]]","[point, contextual]",{num_values}\n'
        f'P-2,SMAP,"[[1, 2]]",[point],{num_values}\n'
    )
    return arrays


def test_nasa_layout_both_spacecraft(tmp_path):
    arrays = make_nasa(tmp_path / "telemanom")
    assert ds.list_series("MSL", tmp_path) == ["MSL/C-1"]
    assert ds.list_series("SMAP", tmp_path) == ["SMAP/P-1", "SMAP/P-2"]
    s = ds.load_series("SMAP", "P-1", tmp_path)
    np.testing.assert_array_equal(s.train, arrays["train/P-1"])
    np.testing.assert_array_equal(s.test, arrays["test/P-1"])
    np.testing.assert_array_equal(s.labels, [1, 0, 0, 0, 0, 1, 1, 1])  # inclusive [0,0] and [5,7]
    assert s.anomaly_ranges == [(0, 1), (5, 8)]
    assert s.channels == ["telemetry", "cmd_1", "cmd_2"]
    m = ds.load_series("MSL", "MSL/C-1", tmp_path, value_only=True)
    assert m.test.shape == (8, 1) and m.anomaly_ranges == [(2, 4)]
    np.testing.assert_array_equal(m.test[:, 0], arrays["test/C-1"][:, 0])
    with pytest.raises(ValueError, match="no series 'P-1'"):
        ds.load_series("MSL", "P-1", tmp_path)


def test_nasa_bad_labels(tmp_path):
    make_nasa(tmp_path / "SMAP", num_values=9)
    with pytest.raises(ValueError, match=r"num_values=9 but .*P-1.npy has 8 rows"):
        ds.load_series("SMAP", "P-1", tmp_path)
    csv = tmp_path / "SMAP" / "labeled_anomalies.csv"
    csv.write_text(csv.read_text().replace(",9\n", ",8\n").replace("[[1, 2]]", "[[1, 8]]"))
    with pytest.raises(ValueError, match=r"anomaly \[1, 8\] ends past the test part \(8 steps\)"):
        ds.load_series("SMAP", "P-2", tmp_path)


# ------------------------------------------------------------------------------------------------- UCR


def test_ucr_name_conversion_on_real_names():
    # 1-based inclusive begin..end -> 0-based half-open [begin - 1, end)
    p = ds.parse_ucr_name("001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620")
    assert (p.number, p.title, p.train_end, p.anomaly_start, p.anomaly_end) == (
        1, "DISTORTED1sddb40", 35000, 51999, 52620
    )
    single = ds.parse_ucr_name("079_UCR_Anomaly_DISTORTEDresperation2_30000_168250_168250")
    assert (single.anomaly_start, single.anomaly_end) == (168249, 168250)
    with pytest.raises(ValueError, match="not a UCR archive name"):
        ds.parse_ucr_name("001_UCR_Anomaly_x_10_20")
    with pytest.raises(ValueError, match="trainEnd < begin"):
        ds.parse_ucr_name("002_UCR_Anomaly_x_30_20_25")


def test_ucr_layout(tmp_path):
    d = tmp_path / "UCR" / "UCR_Anomaly_FullData"
    values = np.arange(20, dtype=float) * 1.5
    write(d / "005_UCR_Anomaly_toy_10_13_15.txt", "".join(f"{v}\n" for v in values), gz=True)
    write(d / "006_UCR_Anomaly_oneline_4_6_6.txt", "  ".join(str(v) for v in values[:8]) + "\n")
    write(d / "notes.txt", "not a series\n")
    assert ds.list_series("UCR", tmp_path) == ["UCR/005_UCR_Anomaly_toy_10_13_15", "UCR/006_UCR_Anomaly_oneline_4_6_6"]
    s = ds.load_series("UCR", "005_UCR_Anomaly_toy_10_13_15", tmp_path)
    np.testing.assert_array_equal(s.train[:, 0], values[:10])
    np.testing.assert_array_equal(s.test[:, 0], values[10:])
    assert s.anomaly_ranges == [(2, 5)]  # values 13..15 (1-based) = indices 12..14 = test 2..4
    np.testing.assert_array_equal(s.test[s.labels == 1, 0], values[12:15])
    assert s.meta["anomaly_range_full"] == (12, 15)
    one = ds.load_series("UCR", "006_UCR_Anomaly_oneline_4_6_6", tmp_path)
    assert one.train.shape == (4, 1) and one.test.shape == (4, 1) and one.anomaly_ranges == [(1, 2)]
    assert one.test[1, 0] == values[5]


def test_ucr_bad_files(tmp_path):
    d = tmp_path / "UCR_Anomaly_FullData"
    write(d / "001_UCR_Anomaly_short_4_6_30.txt", "1\n2\n3\n4\n5\n6\n7\n")
    write(d / "002_UCR_Anomaly_text_2_3_3.txt", "1\n2\nx\n4\n")
    with pytest.raises(ValueError, match="the file has only 7 values"):
        ds.load_series("UCR", "001_UCR_Anomaly_short_4_6_30", tmp_path)
    with pytest.raises(ValueError, match=r"002_UCR_Anomaly_text_2_3_3.txt: line 3: 'x' is not a finite number"):
        ds.load_series("UCR", "002_UCR_Anomaly_text_2_3_3", tmp_path)


def test_field_counts_crlf_quotes_and_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    assert _io.check_field_counts("a,b\r\n1,2\r\n3,4\r\n\r\n", path, 2, header=True) == (2, 3)
    assert _io.check_field_counts('a,b\n"x,y",2\n', path, None, header=True) == (2, 2)
    with pytest.raises(ValueError, match="t.csv: line 3 has 3 fields, expected 2"):
        _io.check_field_counts('a,b\n"x,y",2\n1,2,3\n', path, None, header=True)
    with pytest.raises(ValueError, match="t.csv: line 2 is empty"):
        _io.check_field_counts("a,b\n\r\n1,2\n", path, 2, header=True)
    with pytest.raises(ValueError, match="the file is empty"):
        _io.check_field_counts("\n\n", path, 2, header=False)


def test_listing_reads_no_file(tmp_path, monkeypatch):
    d = tmp_path / "UCR_Anomaly_FullData"
    for k in range(5):
        write(d / f"{k:03d}_UCR_Anomaly_toy_10_13_15.txt", "1\n")
    monkeypatch.setattr(_io, "read_text", lambda path: pytest.fail(f"listing read {path}"))
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("listing parsed a file"))
    assert len(ds.list_series("UCR", tmp_path)) == 5


# ------------------------------------------------------------------------------------------------- NAB


def make_nab(root: Path) -> tuple[pd.DatetimeIndex, np.ndarray]:
    d = root / "NAB"
    stamps = pd.date_range("2014-04-01 00:00:00", periods=20, freq="5min")
    values = np.arange(20) * 2.0 + 0.5
    text = "timestamp,value\n" + "".join(f"{t:%Y-%m-%d %H:%M:%S},{v}\n" for t, v in zip(stamps, values, strict=True))
    write(d / "data" / "groupA" / "s1.csv", text)
    write(d / "data" / "groupB" / "quiet.csv", text, gz=True)
    windows = {
        "groupA/s1.csv": [
            ["2014-04-01 00:50:00.000000", "2014-04-01 01:00:00.000000"],  # steps 10, 11, 12 (ends included)
            ["2014-04-01 01:32:00.000000", "2014-04-01 01:36:00.000000"],  # only step 19 (01:35)
        ],
        "groupB/quiet.csv": [],
    }
    write(d / "labels" / "combined_windows.json", json.dumps(windows))
    return stamps, values


def test_nab_layout(tmp_path):
    stamps, values = make_nab(tmp_path)
    assert ds.list_series("NAB", tmp_path) == ["NAB/groupA/s1", "NAB/groupB/quiet"]
    s = ds.load_series("NAB", "groupA/s1", tmp_path)
    # probationary period floor(0.15 * 20) = 3 steps
    np.testing.assert_array_equal(s.train[:, 0], values[:3])
    np.testing.assert_array_equal(s.test[:, 0], values[3:])
    assert s.anomaly_ranges == [(10 - 3, 13 - 3), (19 - 3, 20 - 3)]
    assert s.meta["has_anomaly"] and s.meta["train_label_steps"] == 0
    assert s.meta["test_timestamps"][0] == stamps[3]
    quiet = ds.load_series("NAB", "NAB/groupB/quiet", tmp_path)
    assert not quiet.labels.any() and quiet.meta["has_anomaly"] is False
    capped = ds.load_series("NAB", "groupA/s1", tmp_path, probation=0.5, probation_cap=4)
    assert capped.train.shape == (4, 1) and capped.anomaly_ranges == [(6, 9), (15, 16)]
    late = ds.load_series("NAB", "groupA/s1", tmp_path, probation=0.55)  # 11 steps: window step 10 in train
    assert late.meta["train_label_steps"] == 1 and late.anomaly_ranges == [(0, 2), (8, 9)]


def test_nab_bad_files(tmp_path):
    make_nab(tmp_path)
    path = tmp_path / "NAB" / "data" / "groupA" / "s1.csv"
    lines = path.read_text().splitlines()
    lines[5] = "2014-04-01 00:20:00,1.0,7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"s1.csv: line 6 has 3 fields, expected 2"):
        ds.load_series("NAB", "groupA/s1", tmp_path)
    lines[5] = "yesterday,1.0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"s1.csv: line 6: 'yesterday' is not a timestamp"):
        ds.load_series("NAB", "groupA/s1", tmp_path)
    write(tmp_path / "NAB" / "data" / "groupC" / "new.csv", "timestamp,value\n2014-01-01 00:00:00,1\n")
    with pytest.raises(ValueError, match="no entry for 'groupC/new.csv'"):
        ds.load_series("NAB", "groupC/new", tmp_path)


# ----------------------------------------------------------------------------------------------- GECCO

GECCO_TEXT = """Tp,Cl,pH,EVENT
1.0,,7.0,FALSE
,0.2,7.1,TRUE
3.0,0.3,,FALSE
4.0,,7.3,FALSE
5.0,0.5,7.4,TRUE
6.0,0.6,,TRUE
"""


def test_gecco_layout(tmp_path):
    write(tmp_path / "GECCO" / "gecco2018_water_quality.csv", GECCO_TEXT, gz=True)
    assert ds.list_series("GECCO", tmp_path) == ["GECCO/gecco2018_water_quality"]
    s = next(ds.load_gecco(tmp_path))
    # ffill then bfill per column; Cl's leading gap takes the later 0.2
    full = np.array(
        [[1.0, 0.2, 7.0], [1.0, 0.2, 7.1], [3.0, 0.3, 7.1], [4.0, 0.3, 7.3], [5.0, 0.5, 7.4], [6.0, 0.6, 7.4]]
    )
    np.testing.assert_array_equal(s.train, full[:3])
    np.testing.assert_array_equal(s.test, full[3:])
    np.testing.assert_array_equal(s.labels, [0, 1, 1])  # EVENT of the second half
    assert s.channels == ["Tp", "Cl", "pH"]
    assert s.meta["n_filled"] == 5 and s.meta["n_missing"] == 5 and s.meta["train_label_steps"] == 1
    raw = ds.load_series("GECCO", "gecco2018_water_quality", tmp_path, fill="none")
    assert np.isnan(raw.train).sum() + np.isnan(raw.test).sum() == 5 and raw.meta["n_filled"] == 0
    with pytest.raises(ValueError, match="fill must be"):
        ds.load_series("GECCO", "gecco2018_water_quality", tmp_path, fill="zero")


def test_gecco_original_columns(tmp_path):
    text = ',Time,Tp,Cl,EVENT\n1,2017-07-01 00:00:00,1.0,2.0,FALSE\n2,2017-07-01 00:01:00,3.0,4.0,TRUE\n'
    write(tmp_path / "GECCO" / "1_gecco2018_water_quality.csv", text)
    s = ds.load_series("GECCO", "1_gecco2018_water_quality", tmp_path)
    assert s.channels == ["Tp", "Cl"] and s.train.tolist() == [[1.0, 2.0]] and s.test.tolist() == [[3.0, 4.0]]
    assert s.labels.tolist() == [1]


@pytest.mark.parametrize(
    "bad_line, message",
    [("4.0,0.4,7.3\n", r"line 5 has 3 fields, expected 4"), ("4.0,0.4,7.3,MAYBE\n", r"line 5: EVENT 'MAYBE'"),
     ("4.0,x,7.3,TRUE\n", r"line 5, column 'Cl': 'x' is not a number")],
)
def test_gecco_bad_lines(tmp_path, bad_line, message):
    lines = GECCO_TEXT.splitlines(keepends=True)
    lines[4] = bad_line
    write(tmp_path / "GECCO" / "gecco2018_water_quality.csv", "".join(lines))
    with pytest.raises(ValueError, match="gecco2018_water_quality.csv: " + message):
        ds.load_series("GECCO", "gecco2018_water_quality", tmp_path)


# ------------------------------------------------------------------------------------------ KPI / Yahoo


def test_kpi_layouts(tmp_path):
    d = tmp_path / "KPI"
    body = "".join(f"{1500000000 + 60 * i},{i * 0.5},{int(i in (5, 6))}\n" for i in range(8))
    write(d / "cpu4.csv", "timestamp,value,label\n" + body)
    write(d / "noheader.csv", body, gz=True)
    combined = "timestamp,value,label,KPI ID\n" + "".join(
        f"{1500000000 + 60 * i},{i},{int(i == 3)},{kpi}\n" for kpi in ("aa", "bb") for i in range(4)
    )
    write(d / "phase2_train.csv", combined)
    assert ds.list_series("KPI", tmp_path) == [
        "KPI/cpu4", "KPI/noheader", "KPI/phase2_train/aa", "KPI/phase2_train/bb"
    ]
    for name in ("cpu4", "noheader"):
        s = ds.load_series("KPI", name, tmp_path)
        np.testing.assert_array_equal(s.train[:, 0], np.arange(4) * 0.5)
        np.testing.assert_array_equal(s.test[:, 0], np.arange(4, 8) * 0.5)
        assert s.anomaly_ranges == [(1, 3)]
        assert s.meta["test_timestamps"][0] == 1500000000 + 240
    bb = ds.load_series("KPI", "phase2_train/bb", tmp_path)
    np.testing.assert_array_equal(bb.test[:, 0], [2.0, 3.0])
    np.testing.assert_array_equal(bb.labels, [0, 1])
    assert bb.meta["source_lines"] == (6, 9)
    write(d / "cpu4.csv", "timestamp,value,label\n1,2,0\n2,3,5\n")
    with pytest.raises(ValueError, match=r"cpu4.csv: line 3: label 5 is not 0/1"):
        ds.load_series("KPI", "cpu4", tmp_path)


def test_yahoo_layout(tmp_path):
    d = tmp_path / "ydata-labeled-time-series-anomalies-v1_0"
    write(d / "A1Benchmark" / "real_1.csv", "timestamp,value,is_anomaly\n" + "".join(
        f"{i},{10 + i},{int(i == 4)}\n" for i in range(6)))
    write(d / "A3Benchmark" / "A3Benchmark-TS1.csv", "timestamps,value,anomaly,changepoint,trend\n" + "".join(
        f"{i},{-i}.5,{int(i == 1)},0,0.1\n" for i in range(4)))
    write(d / "A3Benchmark" / "A3Benchmark_all.csv", "whatever\n")
    assert ds.list_series("Yahoo", tmp_path) == ["Yahoo/A1Benchmark/real_1", "Yahoo/A3Benchmark/A3Benchmark-TS1"]
    s = ds.load_series("Yahoo", "A1Benchmark/real_1", tmp_path)
    np.testing.assert_array_equal(s.train[:, 0], [10, 11, 12])
    np.testing.assert_array_equal(s.test[:, 0], [13, 14, 15])
    assert s.anomaly_ranges == [(1, 2)]
    a3 = ds.load_series("Yahoo", "A3Benchmark/A3Benchmark-TS1", tmp_path)
    assert a3.channels == ["value"] and a3.test[:, 0].tolist() == [-2.5, -3.5]
    assert a3.meta["train_label_steps"] == 1 and not a3.labels.any()


# ------------------------------------------------------------------------------------------------- TSB


def test_tsb_layouts(tmp_path):
    d = tmp_path / "TSB"
    ad = "Data,Label\n" + "".join(f"{i * 1.0},{int(i in (6, 7))}\n" for i in range(10))
    write(d / "TSB-AD" / "001_NAB_id_1_Facility_tr_4_1st_6.csv", ad)
    multi = "a,b,Label\n" + "".join(f"{i},{-i},{int(i == 5)}\n" for i in range(8))
    write(d / "TSB-AD" / "002_MSL_id_2_Sensor_tr_3_1st_5.csv", multi)
    write(d / "TSB-UAD" / "ECG" / "rec1.out", "".join(f"{i / 10},{int(i == 2)}\n" for i in range(6)), gz=True)
    assert ds.list_series("TSB", tmp_path) == [
        "TSB/TSB-AD/001_NAB_id_1_Facility_tr_4_1st_6",
        "TSB/TSB-AD/002_MSL_id_2_Sensor_tr_3_1st_5",
        "TSB/TSB-UAD/ECG/rec1",
    ]
    s = ds.load_series("TSB", "TSB-AD/001_NAB_id_1_Facility_tr_4_1st_6", tmp_path)
    np.testing.assert_array_equal(s.train[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(s.test[:, 0], np.arange(4, 10))
    assert s.anomaly_ranges == [(2, 4)] and s.meta["first_anomaly"] == 6
    full = ds.load_series("TSB", "TSB-AD/001_NAB_id_1_Facility_tr_4_1st_6", tmp_path, test_part="full")
    assert full.test.shape == (10, 1) and full.anomaly_ranges == [(6, 8)] and full.train.shape == (4, 1)
    m = ds.load_series("TSB", "TSB-AD/002_MSL_id_2_Sensor_tr_3_1st_5", tmp_path)
    assert m.channels == ["a", "b"] and m.test.shape == (5, 2) and m.anomaly_ranges == [(2, 3)]
    np.testing.assert_array_equal(m.test[:, 1], -np.arange(3, 8))
    u = ds.load_series("TSB", "TSB-UAD/ECG/rec1", tmp_path)
    assert u.train is None and u.test[:, 0].tolist() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5] and u.anomaly_ranges == [(2, 3)]
    u2 = ds.load_series("TSB", "TSB-UAD/ECG/rec1", tmp_path, train_fraction=0.5)
    assert u2.train.shape == (3, 1) and u2.test.shape == (3, 1) and u2.meta["train_label_steps"] == 1


def test_tsb_bad_files(tmp_path):
    d = tmp_path / "TSB" / "TSB-UAD"
    write(d / "bad.out", "0.1,0\n0.2\n")
    write(d / "lab.out", "0.1,0\n0.2,0.5\n")
    write(tmp_path / "TSB" / "TSB-AD" / "x_tr_9_1st_1.csv", "Data,Label\n1,0\n2,1\n")
    write(tmp_path / "TSB" / "TSB-AD" / "nolabel.csv", "Data,Other\n1,0\n")
    with pytest.raises(ValueError, match=r"bad.out: line 2 has 1 fields, expected 2"):
        ds.load_series("TSB", "TSB-UAD/bad", tmp_path)
    with pytest.raises(ValueError, match=r"lab.out: line 2: label 0.5 is not 0/1"):
        ds.load_series("TSB", "TSB-UAD/lab", tmp_path)
    with pytest.raises(ValueError, match="training prefix of 9 steps for a series of 2"):
        ds.load_series("TSB", "TSB-AD/x_tr_9_1st_1", tmp_path)
    with pytest.raises(ValueError, match="last column must be 'Label'"):
        ds.load_series("TSB", "TSB-AD/nolabel", tmp_path)


# --------------------------------------------------------------------------------------------- generic


def test_generic_csv_and_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=6, freq="h").astype(str),
            "temp": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "flow": [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
            "is_anomaly": [0, 0, 1, 0, 1, 1],
        }
    )
    frame.to_csv(tmp_path / "plant.csv", index=False)
    names = ["plant.csv"]
    try:
        frame.to_parquet(tmp_path / "plant2.parquet", index=False)
        names.append("plant2.parquet")
    except ImportError:  # pyarrow is an optional (bench) dependency
        pass
    for name in names:
        s = ds.load_generic(tmp_path / name)
        assert s.train is None and s.channels == ["temp", "flow"]
        np.testing.assert_array_equal(s.test, frame[["temp", "flow"]].to_numpy())
        assert s.anomaly_ranges == [(2, 3), (4, 6)] and s.meta["has_labels"]
    split = ds.load_generic(tmp_path / "plant.csv", train_end=4)
    np.testing.assert_array_equal(split.train[:, 0], [1, 2, 3, 4])
    assert split.anomaly_ranges == [(0, 2)] and split.meta["train_label_steps"] == 1
    half = ds.load_generic(tmp_path / "plant.csv", train_fraction=0.5, channels=["flow"])
    assert half.train.shape == (3, 1) and half.test[:, 0].tolist() == [0.2, 0.1, 0.0]
    explicit = ds.load_generic(tmp_path / "plant.csv", channels=["temp"], label_column="is_anomaly")
    assert explicit.test.shape == (6, 1) and explicit.labels.sum() == 3
    with pytest.raises(ValueError, match="no label column 'lbl'"):
        ds.load_generic(tmp_path / "plant.csv", label_column="lbl")
    # the folder form
    (tmp_path / "generic").mkdir()
    frame.to_csv(tmp_path / "generic" / "p.csv.gz", index=False)
    assert ds.list_series("generic", tmp_path) == ["generic/p"]
    assert ds.load_series("generic", "p", tmp_path, train_end=2).train.shape == (2, 2)


def test_generic_bad_files(tmp_path):
    write(tmp_path / "a.csv", "time,x,site,label\n0,1.0,north,0\n1,2.0,south,1\n")
    with pytest.raises(ValueError, match=r"a.csv: line 2, column 'site': 'north' is not a number.*channels="):
        ds.load_generic(tmp_path / "a.csv")
    assert ds.load_generic(tmp_path / "a.csv", channels=["x"]).test.shape == (2, 1)
    write(tmp_path / "b.csv", "x,y\n1,2\n,4\n5,6\n")
    with pytest.raises(ValueError, match=r"b.csv: 1 missing value\(s\), first at line 3, column 'x'; pass fill"):
        ds.load_generic(tmp_path / "b.csv")
    filled = ds.load_generic(tmp_path / "b.csv", fill="ffill")
    assert filled.test[:, 0].tolist() == [1, 1, 5] and filled.meta["n_filled"] == 1 and not filled.meta["has_labels"]
    with pytest.raises(ValueError, match="train_end=3 must be in"):
        ds.load_generic(tmp_path / "b.csv", fill="ffill", train_end=3)
    write(tmp_path / "c.txt", "1\n")
    with pytest.raises(ValueError, match="expected a .csv"):
        ds.load_generic(tmp_path / "c.txt")


# ------------------------------------------------------------------------------------- shared datasets

EXPECTED_COUNTS = {"SMD": 19, "MSL": 27, "UCR": 250, "NAB": 58, "GECCO": 1, "TSB": 4}


def test_shared_counts(shared_data):
    found = ds.find_datasets(shared_data)
    for key, count in EXPECTED_COUNTS.items():
        assert found.get(key) == count, (key, found)
    rows = ds.describe_datasets(shared_data)
    assert all(Path(folder).is_dir() for _, _, folder in rows)


def test_shared_one_series_each(shared_data):
    smd = ds.load_series("SMD", "machine-1-2", shared_data)
    assert smd.test.shape[1] == 38 and smd.train.shape[1] == 38 and smd.labels.shape == (smd.test.shape[0],)
    first, last, _ = smd.meta["interpretation"][0]
    assert (first, last) == smd.anomaly_ranges[0]  # interpretation ranges line up with test_label runs
    msl = ds.load_series("MSL", "C-1", shared_data)
    assert msl.test.shape == (2264, 55) and msl.anomaly_ranges == [(550, 751), (2100, 2211)]
    name = "001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620"
    ucr = ds.load_series("UCR", name, shared_data)
    assert ucr.train.shape == (35000, 1) and ucr.anomaly_ranges == [(52000 - 1 - 35000, 52620 - 35000)]
    gecco = ds.load_series("GECCO", "gecco2018_water_quality", shared_data)
    assert gecco.test.shape[1] == 9 and np.isfinite(gecco.test).all() and gecco.meta["n_filled"] > 0
    tsb = ds.load_series("TSB", "TSB-AD/001_NAB_id_1_Facility_tr_1007_1st_2014", shared_data)
    assert tsb.train.shape == (1007, 1) and tsb.anomaly_ranges[0][0] == 2014 - 1007
    assert tsb.meta["first_anomaly"] == 2014


def test_shared_nab_windows(shared_data):
    series = list(ds.load_nab(shared_data))
    assert len(series) == 58
    assert sum(not s.meta["has_anomaly"] for s in series) == 6
    assert all(s.labels.any() == s.meta["has_anomaly"] for s in series)
