"""Yahoo Webscope S5 labelled anomaly benchmark (A1-A4), univariate.

Layout (``Yahoo/``, or the published ``ydata-labeled-time-series-anomalies-v1_0/``)::

    A1Benchmark/real_<k>.csv              timestamp,value,is_anomaly
    A2Benchmark/synthetic_<k>.csv         timestamp,value,is_anomaly
    A3Benchmark/A3Benchmark-TS<k>.csv     timestamps,value,anomaly,changepoint,trend,noise,seasonality1..3
    A4Benchmark/A4Benchmark-TS<k>.csv     same as A3

Any CSV (``.csv`` or ``.csv.gz``) with a ``timestamp(s)`` column, a ``value`` column and an
``is_anomaly`` or ``anomaly`` label column is read, in the folder or one sub-folder level down; the
``*_all.csv`` summary files are skipped. Series are named ``Yahoo/<sub-folder>/<file>``. Only ``value``
is a channel; the A3/A4 components (trend, noise, ...) are not returned. There is no training part:
the first half (``floor(0.5 * n)`` rows, option ``train_fraction``) is ``train``, the second half the
test part; labels of the training half are not returned (count in ``meta["train_label_steps"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from anomalyforge.datasets._io import first_line, label_column, numeric_columns, read_table, strip_suffix, time_split
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["YahooLoader", "load_yahoo"]

_TIME = ("timestamp", "timestamps")
_LABEL = ("is_anomaly", "anomaly")


class YahooLoader(DatasetLoader):
    """Yahoo S5: univariate, 50/50 time split."""

    name = "Yahoo"
    folders = ("Yahoo", "ydata-labeled-time-series-anomalies-v1_0", "YahooS5")
    description = "A1Benchmark/real_1.csv ... with timestamp,value,is_anomaly (A3/A4: timestamps,value,anomaly,...)"

    def _files(self, directory: Path) -> dict[str, Path]:
        files = {}
        for pattern in ("*.csv*", "*/*.csv*"):
            for p in directory.glob(pattern):
                stem = strip_suffix(p.name, (".csv.gz", ".csv"))
                if stem is None or stem.endswith("_all"):
                    continue
                rel = p.parent.relative_to(directory) / stem
                files[rel.as_posix()] = p
        return files

    def _looks_like(self, path: Path) -> bool:
        if any((path / f"A{k}Benchmark").is_dir() for k in range(1, 5)):
            return True
        return any("is_anomaly" in first_line(p) for p in path.glob("*.csv*"))

    def _list(self, directory: Path) -> list[str]:
        return sorted(self._files(directory))

    def _load(self, directory: Path, short_name: str, *, train_fraction: float = 0.5, **options: Any) -> SeriesData:
        if options:
            raise TypeError(f"Yahoo loader options are train_fraction=...; got {sorted(options)}")
        path = self._files(directory)[short_name]
        frame = read_table(path, header=True)
        columns = [str(c).strip() for c in frame.columns]
        frame.columns = columns
        label = next((c for c in _LABEL if c in columns), None)
        if "value" not in columns or label is None:
            raise ValueError(
                f"{path}: expected columns timestamp,value,is_anomaly (or anomaly); got {','.join(columns)}"
            )
        time_col = next((c for c in _TIME if c in columns), None)
        values = numeric_columns(frame, ["value"], path, header=True)
        labels = label_column(frame[label], path, first_line=2, what=label)
        cut = time_split(len(values), train_fraction, str(path))
        meta: dict[str, Any] = {
            "source": str(path),
            "split": f"time split: first floor({train_fraction} * n) = {cut} rows as train (labels ignored)",
            "train_label_steps": int(labels[:cut].sum()),
            "has_anomaly": bool(labels[cut:].any()),
        }
        if time_col is not None:
            meta["test_timestamps"] = frame[time_col].to_numpy()[cut:]
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=values[:cut],
            test=values[cut:],
            labels=labels[cut:],
            channels=["value"],
            meta=meta,
        )


YAHOO = YahooLoader()


def load_yahoo(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load Yahoo S5 series (all, or names like ``"A1Benchmark/real_1"``); option ``train_fraction``."""
    return YAHOO(root, names, **options)
