"""NASA spacecraft telemetry, MSL and SMAP (Hundman et al., KDD 2018), in the telemanom layout.

Layout (``MSL/``, ``SMAP/``, or one telemanom folder holding both spacecraft)::

    labeled_anomalies.csv     chan_id,spacecraft,anomaly_sequences,class,num_values
    train/<chan>.npy          float array (n_train, 55); column 0 is the telemetry value, the rest command flags
    test/<chan>.npy           float array (n_test, 55)

(``data/train`` and ``data/test`` are accepted too.) ``anomaly_sequences`` holds inclusive ``[start, end]``
test-index pairs; they become half-open ranges ``[start, end + 1)``. The CSV lists channels of both
spacecraft; each loader keeps the rows of its own (column ``spacecraft``) whose test file exists.
Train on ``train``, score ``test``. ``value_only=True`` keeps only column 0 (as telemanom predicts it).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anomalyforge.datasets.base import DatasetLoader, SeriesData, ranges_to_labels

__all__ = ["NasaLoader", "load_msl", "load_smap", "read_labeled_anomalies"]

LABEL_FILE = "labeled_anomalies.csv"


def read_labeled_anomalies(path: Path) -> dict[str, dict[str, Any]]:
    """Parse telemanom's ``labeled_anomalies.csv``.

    Returns:
        ``chan_id -> {"spacecraft", "sequences" (inclusive [start, end] pairs), "classes", "num_values"}``.

    Raises:
        ValueError: Naming the line of a row that cannot be read.
    """
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"chan_id", "spacecraft", "anomaly_sequences"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; is this telemanom's {LABEL_FILE}?")
        rows: dict[str, dict[str, Any]] = {}
        for row in reader:
            line = reader.line_num
            try:
                sequences = json.loads(row["anomaly_sequences"])
                sequences = [(int(s), int(e)) for s, e in sequences]
                num = row.get("num_values")
                num_values = int(num) if num not in (None, "") else None
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: line {line}: cannot read row {row} ({exc})") from exc
            if any(e < s or s < 0 for s, e in sequences):
                raise ValueError(f"{path}: line {line}: reversed or negative sequence in {sequences}")
            rows[row["chan_id"].strip()] = {
                "spacecraft": row["spacecraft"].strip(),
                "sequences": sequences,
                "classes": row.get("class"),
                "num_values": num_values,
            }
    return rows


class NasaLoader(DatasetLoader):
    """MSL or SMAP channels: 55 channels (telemetry value + command flags), train part, labelled test."""

    description = f"{LABEL_FILE} plus train/<chan>.npy and test/<chan>.npy"

    def __init__(self, spacecraft: str) -> None:
        self.name = spacecraft
        self.folders = (spacecraft, "NASA", "telemanom")

    @staticmethod
    def _split_dir(directory: Path, part: str) -> Path:
        return directory / part if (directory / part).is_dir() else directory / "data" / part

    def _looks_like(self, path: Path) -> bool:
        return (path / LABEL_FILE).is_file() and self._split_dir(path, "test").is_dir()

    def _list(self, directory: Path) -> list[str]:
        rows = read_labeled_anomalies(directory / LABEL_FILE)
        test_dir = self._split_dir(directory, "test")
        present = {p.stem for p in test_dir.glob("*.npy")}
        return sorted(c for c, r in rows.items() if r["spacecraft"] == self.name and c in present)

    def _load(self, directory: Path, short_name: str, *, value_only: bool = False, **options: Any) -> SeriesData:
        if options:
            raise TypeError(f"{self.name} loader options are value_only=...; got {sorted(options)}")
        label_path = directory / LABEL_FILE
        row = read_labeled_anomalies(label_path)[short_name]
        test_path = self._split_dir(directory, "test") / f"{short_name}.npy"
        train_path = self._split_dir(directory, "train") / f"{short_name}.npy"
        test, train = _load_npy(test_path), _load_npy(train_path)
        if train.shape[1] != test.shape[1]:
            raise ValueError(f"{train_path}: {train.shape[1]} columns, but the test file has {test.shape[1]}")
        n_test = test.shape[0]
        if row["num_values"] is not None and row["num_values"] != n_test:
            raise ValueError(
                f"{label_path}: {short_name} has num_values={row['num_values']} but {test_path} has {n_test} rows"
            )
        ranges = [(s, e + 1) for s, e in row["sequences"]]
        for s, e in row["sequences"]:
            if e >= n_test:
                raise ValueError(
                    f"{label_path}: {short_name} anomaly [{s}, {e}] ends past the test part ({n_test} steps)"
                )
        labels = ranges_to_labels(ranges, n_test)
        channels = ["telemetry"] + [f"cmd_{j}" for j in range(1, test.shape[1])]
        if value_only:
            test, train, channels = test[:, :1], train[:, :1], channels[:1]
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=train,
            test=test,
            labels=labels,
            channels=channels,
            meta={
                "source": str(test_path),
                "split": "published train/test files",
                "anomaly_sequences": row["sequences"],
                "anomaly_classes": row["classes"],
                "has_anomaly": bool(labels.any()),
            },
        )


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a numeric .npy array ({exc})") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: expected a numeric (n_timesteps, n_channels) array, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{path}: {len(bad)} non-finite value(s), first at row {bad[0][0]}, column {bad[0][1]}")
    return arr


MSL = NasaLoader("MSL")
SMAP = NasaLoader("SMAP")


def load_msl(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load MSL channels (all, or names such as ``"C-1"``); ``value_only=True`` keeps column 0."""
    return MSL(root, names, **options)


def load_smap(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load SMAP channels (all, or names such as ``"P-1"``); ``value_only=True`` keeps column 0."""
    return SMAP(root, names, **options)
