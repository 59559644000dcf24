"""AIOps Challenge 2018 KPI data (Tsinghua NetMan / AIOps), univariate web-service KPIs.

Layout (``KPI/``; also ``AIOps2018/``), CSV files (``.csv`` or ``.csv.gz``) in either published form:

- one file per KPI, columns ``timestamp,value,label`` (the per-KPI split used by Donut and others),
  with or without the header line; the series name is the file name;
- the challenge's combined file (e.g. ``phase2_train.csv``) with columns
  ``timestamp,value,label,KPI ID``; every KPI ID is one series, named ``<file>/<KPI ID>``. Listing
  such a file reads its ``KPI ID`` column (the only layout whose listing reads data).

``timestamp`` is Unix seconds; rows are used in file order and gaps are not re-gridded. There is no
training part: the first half (``floor(0.5 * n)`` rows, option ``train_fraction``) is ``train``, the
second half the test part; labels of the training half are not returned (count in
``meta["train_label_steps"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalyforge.datasets._io import (
    first_line,
    label_column,
    numeric_columns,
    read_table,
    read_text,
    strip_suffix,
    time_split,
)
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["KPILoader", "load_kpi"]

KPI_COLUMN = "KPI ID"
_COLUMNS = ["timestamp", "value", "label"]


def _has_header(first_line: str) -> bool:
    try:
        float(first_line.split(",")[0])
    except ValueError:
        return True
    return False


class KPILoader(DatasetLoader):
    """AIOps 2018 KPIs: univariate, 50/50 time split."""

    name = "KPI"
    folders = ("KPI", "AIOps2018")
    description = "<kpi>.csv with timestamp,value,label (or a combined file with a 'KPI ID' column)"

    def _files(self, directory: Path) -> dict[str, Path]:
        files = {}
        for p in sorted(directory.glob("*.csv*")):
            stem = strip_suffix(p.name, (".csv.gz", ".csv"))
            if stem is not None:
                files[stem] = p
        return files

    def _looks_like(self, path: Path) -> bool:
        for p in self._files(path).values():
            first = first_line(p)
            if [c.strip().lower() for c in first.split(",")][:3] == _COLUMNS or not _has_header(first):
                return True
        return False

    def _list(self, directory: Path) -> list[str]:
        names = []
        for stem, path in self._files(directory).items():
            first = first_line(path)
            if _has_header(first) and KPI_COLUMN in [c.strip() for c in first.split(",")]:
                ids = pd.read_csv(path, usecols=[KPI_COLUMN], dtype=str)[KPI_COLUMN].unique()
                names.extend(f"{stem}/{kpi}" for kpi in ids)
            else:
                names.append(stem)
        return sorted(names)

    def _load(self, directory: Path, short_name: str, *, train_fraction: float = 0.5, **options: Any) -> SeriesData:
        if options:
            raise TypeError(f"KPI loader options are train_fraction=...; got {sorted(options)}")
        stem, _, kpi = short_name.partition("/")
        path = self._files(directory)[stem]
        text = read_text(path)
        header = _has_header(text.split("\n", 1)[0])
        frame = read_table(path, header=header, text=text, n_fields=None)
        if header:
            frame.columns = [str(c).strip() for c in frame.columns]
            lowered = {c.lower(): c for c in frame.columns}
            missing = [c for c in _COLUMNS if c not in lowered]
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; expected timestamp,value,label")
            frame = frame.rename(columns={lowered[c]: c for c in _COLUMNS})
        elif frame.shape[1] != 3:
            raise ValueError(f"{path}: {frame.shape[1]} columns without a header; expected timestamp,value,label")
        else:
            frame.columns = _COLUMNS
        first_line = 2 if header else 1
        rows = np.arange(len(frame))
        if kpi:
            mask = (frame[KPI_COLUMN].astype(str) == kpi).to_numpy()
            frame, rows = frame[mask], rows[mask]
        values = numeric_columns(frame, ["value"], path, header=header)
        stamps = numeric_columns(frame, ["timestamp"], path, header=header)[:, 0].astype(np.int64)
        labels = label_column(frame["label"], path, first_line=first_line)
        cut = time_split(len(values), train_fraction, f"{path} {short_name}")
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=values[:cut],
            test=values[cut:],
            labels=labels[cut:],
            channels=["value"],
            meta={
                "source": str(path),
                "split": f"time split: first floor({train_fraction} * n) = {cut} rows as train (labels ignored)",
                "test_timestamps": stamps[cut:],
                "source_lines": (int(rows[0]) + first_line, int(rows[-1]) + first_line),
                "train_label_steps": int(labels[:cut].sum()),
                "has_anomaly": bool(labels[cut:].any()),
            },
        )


KPI = KPILoader()


def load_kpi(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load AIOps 2018 KPIs (all, or the given names); option ``train_fraction`` (default 0.5)."""
    return KPI(root, names, **options)
