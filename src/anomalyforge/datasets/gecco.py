"""GECCO 2018 industrial challenge: drinking-water quality, 9 sensors, one series.

Layout (``GECCO/``): ``gecco2018_water_quality.csv[.gz]`` with header
``Tp,Cl,pH,Redox,Leit,Trueb,Cl_2,Fm,Fm_2,EVENT`` (EVENT is TRUE/FALSE). The challenge's original file
also has a leading row-number column and a ``Time`` column; both are accepted and kept out of the
channels. Every other column is a sensor. Empty cells are missing values.

Missing values: detectors reject NaN, so by default (``fill="ffill"``) each column is forward-filled,
then back-filled (only the leading gap of the whole series takes a later value), over the whole
series before the split; the number of filled cells is ``meta["n_filled"]``. ``fill="none"`` keeps
the NaN (``meta["n_missing"]`` counts them either way).

Split: GECCO has no training part. As in GenIAS, the first half in time (``floor(0.5 * n)`` rows,
option ``train_fraction``) is ``train``, the second half the test part. EVENT labels of the training
half are not returned (their count is ``meta["train_label_steps"]``): training is unsupervised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from anomalyforge.datasets._io import fill_missing, label_column, numeric_columns, read_table, strip_suffix, time_split
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["GECCOLoader", "load_gecco"]

_NOT_SENSORS = {"time", "event", ""}


class GECCOLoader(DatasetLoader):
    """GECCO 2018 water quality: 9 sensors, 50/50 time split, forward-filled gaps."""

    name = "GECCO"
    folders = ("GECCO",)
    description = "gecco2018_water_quality.csv[.gz] with sensor columns and a TRUE/FALSE EVENT column"

    def _looks_like(self, path: Path) -> bool:
        return bool(self._list(path))

    def _list(self, directory: Path) -> list[str]:
        names = (strip_suffix(p.name, (".csv.gz", ".csv")) for p in directory.glob("*.csv*"))
        return sorted(n for n in names if n is not None and "gecco" in n.lower())

    def _load(
        self,
        directory: Path,
        short_name: str,
        *,
        fill: Literal["ffill", "none"] = "ffill",
        train_fraction: float = 0.5,
        **options: Any,
    ) -> SeriesData:
        if options:
            raise TypeError(f"GECCO loader options are fill=..., train_fraction=...; got {sorted(options)}")
        if fill not in ("ffill", "none"):
            raise ValueError(f"fill must be 'ffill' or 'none', got {fill!r}")
        path = directory / f"{short_name}.csv.gz"
        if not path.is_file():
            path = directory / f"{short_name}.csv"
        frame = read_table(path, header=True)
        columns = [str(c) for c in frame.columns]
        if "EVENT" not in columns:
            raise ValueError(f"{path}: no EVENT column (columns: {', '.join(columns)})")
        sensors = [
            c for c in frame.columns
            if str(c).strip().lower() not in _NOT_SENSORS and not str(c).startswith("Unnamed")
        ]
        if not sensors:
            raise ValueError(f"{path}: no sensor columns besides EVENT/Time")
        values = numeric_columns(frame, sensors, path, header=True, allow_nan=True)
        labels = label_column(frame["EVENT"], path, first_line=2, what="EVENT")
        n_missing = int(np.isnan(values).sum())
        values, n_filled = fill_missing(values, fill, path)
        cut = time_split(len(values), train_fraction, str(path))
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=values[:cut],
            test=values[cut:],
            labels=labels[cut:],
            channels=[str(c) for c in sensors],
            meta={
                "source": str(path),
                "split": f"time split: first floor({train_fraction} * n) = {cut} rows as train (labels ignored)",
                "fill": fill,
                "n_missing": n_missing,
                "n_filled": n_filled,
                "train_label_steps": int(labels[:cut].sum()),
                "has_anomaly": bool(labels[cut:].any()),
            },
        )


GECCO = GECCOLoader()


def load_gecco(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load the GECCO series; options ``fill`` ("ffill" | "none") and ``train_fraction``."""
    return GECCO(root, names, **options)
