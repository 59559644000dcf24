"""Numenta Anomaly Benchmark (NAB), 58 univariate series with anomaly windows.

Layout (``NAB/``)::

    data/<group>/<name>.csv[.gz]      header ``timestamp,value``
    labels/combined_windows.json      {"<group>/<name>.csv": [[start_timestamp, end_timestamp], ...]}

Series names are ``NAB/<group>/<name>``. A test step is anomalous when its timestamp falls inside a
window (both ends included). NAB has no separate training part: its first 15% (``floor(0.15 * n)``
steps, option ``probation``) is the probationary period and is returned as ``train``; the rest is the
test part. NAB's own scorer also caps the probationary period at ``0.15 * 5000 = 750`` steps: pass
``probation_cap=750`` to get that rule (default: no cap). Labels inside the probationary part are not
returned; their count is ``meta["train_label_steps"]`` (with the uncapped 15%, six published series
have a window reaching into it, e.g. realKnownCause/machine_temperature_system_failure). Six series
have no window: they are kept with all-zero labels and ``meta["has_anomaly"] = False``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalyforge.datasets._io import numeric_columns, read_table, strip_suffix, time_split
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["NABLoader", "load_nab", "parse_timestamps"]

WINDOWS = Path("labels") / "combined_windows.json"


def parse_timestamps(values: pd.Series, path: Path, *, first_line: int) -> pd.DatetimeIndex:
    """Parse a timestamp column; naming the line of the first one that cannot be read."""
    stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{path}: line {i + first_line}: {values.iloc[i]!r} is not a timestamp")
    return pd.DatetimeIndex(stamps)


def read_windows(path: Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Read NAB's ``combined_windows.json`` into ``{"<group>/<name>.csv": [(start, end), ...]}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {key: [(pd.Timestamp(s), pd.Timestamp(e)) for s, e in wins] for key, wins in raw.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a NAB windows file {{file: [[start, end], ...]}} ({exc})") from exc


class NABLoader(DatasetLoader):
    """NAB series: univariate, probationary 15% as train, window labels."""

    name = "NAB"
    folders = ("NAB",)
    description = "data/<group>/<name>.csv (timestamp,value) and labels/combined_windows.json"

    def _looks_like(self, path: Path) -> bool:
        return (path / "data").is_dir() and (path / WINDOWS).is_file()

    def _list(self, directory: Path) -> list[str]:
        names = []
        for p in (directory / "data").glob("*/*.csv*"):
            stem = strip_suffix(p.name, (".csv.gz", ".csv"))
            if stem is not None:
                names.append(f"{p.parent.name}/{stem}")
        return sorted(names)

    def _load(
        self,
        directory: Path,
        short_name: str,
        *,
        probation: float = 0.15,
        probation_cap: int | None = None,
        **options: Any,
    ) -> SeriesData:
        if options:
            raise TypeError(f"NAB loader options are probation=..., probation_cap=...; got {sorted(options)}")
        group, stem = short_name.split("/", 1)
        path = directory / "data" / group / f"{stem}.csv"
        if not path.is_file():
            path = path.with_name(f"{stem}.csv.gz")
        frame = read_table(path, header=True, n_fields=2)
        if list(frame.columns) != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected the header 'timestamp,value', got {','.join(map(str, frame.columns))}")
        values = numeric_columns(frame, ["value"], path, header=True)
        stamps = parse_timestamps(frame["timestamp"], path, first_line=2)
        windows_path = directory / WINDOWS
        key = f"{group}/{stem}.csv"
        all_windows = read_windows(windows_path)
        if key not in all_windows:
            raise ValueError(f"{windows_path} has no entry for {key!r}; add one (an empty list means no anomaly)")
        windows = all_windows[key]
        flags = np.zeros(len(stamps), dtype=np.int8)
        for start, end in windows:
            flags[(stamps >= start) & (stamps <= end)] = 1
        cut = time_split(len(values), probation, str(path))
        rule = f"probationary period = first floor({probation} * n) = {cut} steps as train"
        if probation_cap is not None and cut > probation_cap:
            cut, rule = int(probation_cap), f"probationary period = first {probation_cap} steps (cap) as train"
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=values[:cut],
            test=values[cut:],
            labels=flags[cut:],
            channels=["value"],
            meta={
                "source": str(path),
                "split": rule,
                "windows": [(str(s), str(e)) for s, e in windows],
                "test_timestamps": stamps[cut:].to_numpy(),
                "train_label_steps": int(flags[:cut].sum()),
                "has_anomaly": bool(flags[cut:].any()),
            },
        )


NAB = NABLoader()


def load_nab(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load NAB series (all 58, or names such as ``"realKnownCause/nyc_taxi"``).

    Options: ``probation`` (fraction, default 0.15) and ``probation_cap`` (steps, default None).
    """
    return NAB(root, names, **options)
