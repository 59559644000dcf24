"""UCR / KDD-Cup 2021 time-series anomaly archive (Wu & Keogh), 250 univariate series.

Layout (``UCR_Anomaly_FullData/``): one file per series, ``NNN_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>.txt``
(or ``.txt.gz``), one value per line (a few files hold all values on one line, separated by blanks; both
are read). The name carries the split and the single anomaly, 1-based and inclusive:

- training part: values 1..trainEnd -> 0-based ``[0, trainEnd)``;
- test part: everything after -> 0-based ``[trainEnd, n)``;
- anomaly: values begin..end -> 0-based ``[begin - 1, end)`` in the whole series, i.e.
  ``[begin - 1 - trainEnd, end - trainEnd)`` in test indices.

``meta["anomaly_range_full"]`` gives the 0-based half-open anomaly range in whole-series indices.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from anomalyforge.datasets._io import find_file, read_text, strip_suffix
from anomalyforge.datasets.base import DatasetLoader, SeriesData, ranges_to_labels

__all__ = ["UCRLoader", "UCRName", "load_ucr", "parse_ucr_name"]

_NAME = re.compile(r"^(?P<id>\d+)_UCR_Anomaly_(?P<title>.+)_(?P<train_end>\d+)_(?P<begin>\d+)_(?P<end>\d+)$")


class UCRName(NamedTuple):
    """What a UCR file name says, converted to 0-based half-open indices of the whole series."""

    number: int
    title: str
    train_end: int  # training part is [0, train_end)
    anomaly_start: int  # anomaly is [anomaly_start, anomaly_end)
    anomaly_end: int


def parse_ucr_name(name: str) -> UCRName:
    """Parse ``NNN_UCR_Anomaly_<title>_<trainEnd>_<begin>_<end>`` (1-based inclusive) to 0-based half-open.

    Raises:
        ValueError: If the name does not follow the pattern or the anomaly is not after the training part.
    """
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a UCR archive name NNN_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>")
    train_end, begin, end = (int(match[k]) for k in ("train_end", "begin", "end"))
    if not 1 <= train_end < begin <= end:
        raise ValueError(
            f"{name!r}: expected 1 <= trainEnd < begin <= end, got {train_end}, {begin}, {end}"
        )
    return UCRName(int(match["id"]), match["title"], train_end, begin - 1, end)


def read_values(path: Path) -> np.ndarray:
    """Read whitespace-separated numbers (one per line, or several on a line) into shape (n,).

    Raises:
        ValueError: Naming the line of the first token that is not a finite number.
    """
    text = read_text(path)
    try:  # fast path: one value per line
        values = pd.read_csv(io.StringIO(text), header=None, sep=",", dtype=np.float64).to_numpy()
        values = values.reshape(-1) if values.shape[1] == 1 else None
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        values = None
    if values is None or not np.isfinite(values).all():  # several values per line, or a bad token
        try:
            values = np.array(text.split(), dtype=np.float64)
        except ValueError:
            values = None
    if values is not None and np.isfinite(values).all():
        if not values.size:
            raise ValueError(f"{path}: the file holds no values")
        return values
    for i, line in enumerate(text.splitlines(), start=1):
        for token in line.split():
            try:
                ok = np.isfinite(float(token))
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{path}: line {i}: {token!r} is not a finite number")
    raise AssertionError("unreachable")  # pragma: no cover


class UCRLoader(DatasetLoader):
    """UCR anomaly archive: univariate, training prefix, one anomaly per series."""

    name = "UCR"
    folders = ("UCR/UCR_Anomaly_FullData", "UCR_Anomaly_FullData", "UCR")
    description = "NNN_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>.txt[.gz], one value per line"

    def _looks_like(self, path: Path) -> bool:
        return any(_NAME.match(strip_suffix(p.name) or "") for p in path.glob("*_UCR_Anomaly_*"))

    def _list(self, directory: Path) -> list[str]:
        names = (strip_suffix(p.name, (".txt.gz", ".txt")) for p in directory.glob("*_UCR_Anomaly_*"))
        return sorted(n for n in names if n is not None and _NAME.match(n))

    def _load(self, directory: Path, short_name: str, **options: Any) -> SeriesData:
        if options:
            raise TypeError(f"UCR loader takes no options, got {sorted(options)}")
        parsed = parse_ucr_name(short_name)
        path = find_file(directory, short_name, (".txt.gz", ".txt"))
        values = read_values(path)
        n = values.shape[0]
        if parsed.anomaly_end > n:
            raise ValueError(
                f"{path}: the name puts the anomaly at values {parsed.anomaly_start + 1}..{parsed.anomaly_end} "
                f"(1-based) but the file has only {n} values"
            )
        cut = parsed.train_end
        labels = ranges_to_labels([(parsed.anomaly_start - cut, parsed.anomaly_end - cut)], n - cut)
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=values[:cut, None],
            test=values[cut:, None],
            labels=labels,
            channels=["value"],
            meta={
                "source": str(path),
                "split": f"training part = first {cut} values (from the file name)",
                "anomaly_range_full": (parsed.anomaly_start, parsed.anomaly_end),
                "has_anomaly": True,
            },
        )


UCR = UCRLoader()


def load_ucr(root: str | Path | None = None, names: Sequence[str] | None = None) -> Iterator[SeriesData]:
    """Lazily load UCR archive series (all 250, or the given names), in name order."""
    return UCR(root, names)
