"""Any series in a CSV (``.csv``/``.csv.gz``, with a header line) or Parquet file.

A CSV whose first line is data (every field a number or a timestamp) is read without a header: its
columns are named ``ch0``, ``ch1``, ... (a timestamp column ``timestamp``) and ``meta["notice"]`` says so;
its first row is never taken as column names.

Columns:

- label: ``label``, ``is_anomaly`` or ``anomaly`` (case-insensitive; or ``label_column=``), 0/1 or
  TRUE/FALSE; without one the labels are all 0 and ``meta["has_labels"]`` is False;
- timestamp: ``timestamp``, ``timestamps``, ``time``, ``date`` or ``datetime`` (or ``timestamp_column=``),
  kept as ``meta["test_timestamps"]``, never a channel;
- channels: every other column (or the ``channels=`` list). A channel must be numeric: a cell that is
  not a number is a ValueError naming the file, line and column. Empty cells are missing values:
  ``fill="none"`` (default) refuses them, ``fill="ffill"`` forward- then back-fills them per column
  (count in ``meta["n_filled"]``).

Split: none by default (``train=None``, the whole series is the test part); ``train_end=n`` or
``train_fraction=f`` make the first ``n`` (or ``floor(f * len)``) rows the training part, whose labels
are dropped (count in ``meta["train_label_steps"]``).

`load_generic` reads one file; the registered ``"generic"`` dataset lists the files of a folder
(``<root>/generic/`` or the root itself).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from anomalyforge.datasets._io import (
    fill_missing,
    first_line,
    numeric_columns,
    read_table,
    strip_suffix,
    time_split,
)
from anomalyforge.datasets._io import label_column as to_labels
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["GenericLoader", "load_generic", "read_columns", "split_columns"]

_SUFFIXES = (".csv.gz", ".csv", ".parquet", ".pq")
_LABELS = ("label", "is_anomaly", "anomaly")
_TIMES = ("timestamp", "timestamps", "time", "date", "datetime")


def _pick(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str | None:
    if given is not None:
        if given not in columns:
            raise ValueError(f"{path}: no {what} column {given!r}; columns are {', '.join(columns)}")
        return given
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def read_columns(path: str | Path) -> list[str]:
    """The column names of a CSV/Parquet file, read from its header (or schema) only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    try:
        if path.name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return [str(c).strip() for c in pq.ParquetFile(path).schema_arrow.names]
        names = headerless_names(first_line(path))
        if names is not None:  # the first line is data: the names the loader gives a headerless file
            return names
        return [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except Exception as exc:  # pandas / pyarrow raise several types
        raise ValueError(f"{path}: could not read its header ({exc})") from exc


def split_columns(
    columns: Sequence[str],
    *,
    label_column: str | None = None,
    timestamp_column: str | None = None,
    where: str | Path = "the file",
) -> tuple[str | None, str | None, list[str]]:
    """Which column is the label, which the timestamp and which are channels (the module docstring's rules).

    Returns:
        ``(label_column, timestamp_column, channel_columns)``; the first two may be None.
    """
    columns = [str(c) for c in columns]
    label_col = _pick(columns, label_column, _LABELS, "label", Path(where))
    time_col = _pick(columns, timestamp_column, _TIMES, "timestamp", Path(where))
    return label_col, time_col, [c for c in columns if c not in (label_col, time_col)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return False
    return any(ch in text for ch in "-:/")


def headerless_names(line: str) -> list[str] | None:
    """Column names for a CSV whose first line is data, not a header; None when it looks like a header.

    The first line is data when every field is a number, a timestamp or empty and at least one is a number: the
    numbers' columns are then named ``ch0``, ``ch1``, ... and the first timestamp column ``timestamp``.
    """
    fields = [f.strip() for f in next(csv.reader([line]), [])]
    if not fields or not any(_is_number(f) for f in fields):
        return None
    if not all(_is_number(f) or _is_time(f) or not f for f in fields):  # an empty field: a missing value
        return None
    names, k = [], 0
    for f in fields:
        if _is_number(f) or not f:
            names.append(f"ch{k}")
            k += 1
        else:
            names.append("timestamp" if "timestamp" not in names else f"time{len(names)}")
    return names


def load_generic(
    path: str | Path,
    *,
    label_column: str | None = None,
    timestamp_column: str | None = None,
    channels: Sequence[str] | None = None,
    train_end: int | None = None,
    train_fraction: float | None = None,
    fill: Literal["ffill", "none"] = "none",
    dataset: str = "generic",
) -> SeriesData:
    """Read one CSV or Parquet file into a `SeriesData` (see the module docstring for the rules).

    Args:
        path: The file.
        label_column: Label column; default: the first of label, is_anomaly, anomaly.
        timestamp_column: Timestamp column; default: the first of timestamp, timestamps, time, date, datetime.
        channels: Channel columns; default: all other columns.
        train_end: Number of leading rows that form the training part.
        train_fraction: Alternatively, the fraction of leading rows that form the training part.
        fill: "none" (missing cells are an error) or "ffill" (forward- then back-fill per column).
        dataset: Dataset key used in the series name.

    Returns:
        SeriesData with test of shape (n_test, C) and labels of shape (n_test,).

    Raises:
        ValueError: Bad layout, non-numeric channel cell, bad label, bad split.
    """
    path = Path(path)
    stem = strip_suffix(path.name, _SUFFIXES)
    if stem is None:
        raise ValueError(f"{path}: expected a .csv, .csv.gz or .parquet file")
    is_parquet = path.name.endswith((".parquet", ".pq"))
    notice = None
    if is_parquet:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types
            raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    elif (generated := headerless_names(first_line(path))) is not None:
        frame = read_table(path, header=False)
        frame.columns = generated
        notice = (
            f"{path}: the first line holds no column names (only numbers"
            f"{' and timestamps' if 'timestamp' in generated else ''}), so it was read as data with columns "
            f"named {', '.join(generated[:3])}{', ...' if len(generated) > 3 else ''}; add a header line to "
            "name the channels (and a label column)"
        )
    else:
        frame = read_table(path, header=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    label_col, time_col, channel_cols = split_columns(
        columns, label_column=label_column, timestamp_column=timestamp_column, where=path
    )
    if channels is not None:
        unknown = [c for c in channels if c not in columns]
        if unknown:
            raise ValueError(f"{path}: no column(s) {unknown}; columns are {', '.join(columns)}")
        channel_cols = list(channels)
    if not channel_cols:
        raise ValueError(f"{path}: no channel column besides the label/timestamp columns")
    where = "row" if is_parquet else "line"
    first = 0 if is_parquet else (1 if notice else 2)  # file line (or Parquet row) of the first data row
    try:
        values = numeric_columns(
            frame, channel_cols, path, header=True, allow_nan=True, first_row=first, unit=where
        )
    except ValueError as exc:
        raise ValueError(f"{exc}; if it is not a channel, pass channels=[...] or timestamp_column=...") from exc
    n_missing = int(np.isnan(values).sum())
    if fill == "none" and n_missing:
        i, j = np.argwhere(np.isnan(values))[0]
        raise ValueError(
            f"{path}: {n_missing} missing value(s), first at {where} {i + first}, column "
            f"{channel_cols[j]!r}; pass fill='ffill' to fill them or fix the file"
        )
    values, n_filled = fill_missing(values, fill, path)
    if label_col is None:
        labels = np.zeros(len(values), dtype=np.int8)
    else:
        labels = to_labels(frame[label_col], path, first_line=first, what=label_col)
    n = len(values)
    if train_end is not None and train_fraction is not None:
        raise ValueError("give train_end or train_fraction, not both")
    if train_fraction is not None:
        cut: int | None = time_split(n, train_fraction, str(path))
    elif train_end is not None:
        if not 0 < train_end < n:
            raise ValueError(f"{path}: train_end={train_end} must be in (0, {n})")
        cut = int(train_end)
    else:
        cut = None
    start = 0 if cut is None else cut
    meta: dict[str, Any] = {
        "source": str(path),
        "split": "no training part" if cut is None else f"first {cut} rows as train (labels ignored)",
        "has_labels": label_col is not None,
        "label_column": label_col,
        "timestamp_column": time_col,
        "fill": fill,
        "n_missing": n_missing,
        "n_filled": n_filled,
        "train_label_steps": 0 if cut is None else int(labels[:cut].sum()),
        "has_anomaly": bool(labels[start:].any()),
    }
    if notice:
        meta["notice"] = notice
    if time_col is not None:
        meta["test_timestamps"] = frame[time_col].to_numpy()[start:]
    return SeriesData(
        name=f"{dataset}/{stem}",
        dataset=dataset,
        train=None if cut is None else values[:cut],
        test=values[start:],
        labels=labels[start:],
        channels=channel_cols,
        meta=meta,
    )


class GenericLoader(DatasetLoader):
    """A folder of CSV/Parquet files, each one series (see `load_generic`)."""

    name = "generic"
    folders = ("generic",)
    description = "a folder of .csv/.csv.gz/.parquet files with a header (numeric channels, optional label)"

    def _files(self, directory: Path) -> dict[str, Path]:
        files = {}
        for p in sorted(directory.iterdir()):
            stem = strip_suffix(p.name, _SUFFIXES)
            if stem is not None and p.is_file():
                files[stem] = p
        return files

    def _looks_like(self, path: Path) -> bool:
        return bool(self._files(path))

    def _list(self, directory: Path) -> list[str]:
        return sorted(self._files(directory))

    def _load(self, directory: Path, short_name: str, **options: Any) -> SeriesData:
        return load_generic(self._files(directory)[short_name], dataset=self.name, **options)


GENERIC = GenericLoader()


def load_generic_folder(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load every file of ``<root>/generic/`` (or ``root`` itself) with `load_generic`."""
    return GENERIC(root, names, **options)
