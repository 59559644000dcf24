"""Series from the TSB-AD and TSB-UAD benchmarks (TheDatumOrg).

Layout (``TSB/``; any depth below it)::

    TSB-AD/<id>_<source>_id_<k>_<domain>_tr_<train>_1st_<first>.csv   header ``Data,Label``, or several
                                                                      data columns then ``Label``
    TSB-UAD/[<group>/]<name>.out                                      ``value,label`` per line, no header

Series are named ``TSB/<path below TSB without suffix>``, e.g. ``TSB/TSB-UAD/MBA_ECG805_data``.

TSB-AD CSV: ``_tr_<train>_`` in the file name is the length of the training prefix (TSB-AD fits
semi-supervised detectors on it) and ``_1st_<first>_`` the 0-based index of the first anomaly (kept in
``meta``). By default (``test_part="after_train"``) ``train`` is the prefix and the test part the rest,
so nothing is scored that was fitted on; ``test_part="full"`` scores the whole series as TSB-AD's own
evaluation does (``train`` then overlaps the test part: say so when reporting). Files without
``_tr_<n>_`` have ``train=None`` and the whole series as test part.

TSB-UAD ``.out``: no training part, ``train=None`` and the whole series is the test part (the
unsupervised protocol), unless ``train_fraction`` is given: then the first ``floor(fraction * n)``
steps are ``train`` and their labels are dropped (count in ``meta["train_label_steps"]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from anomalyforge.datasets._io import label_column, numeric_columns, read_table, strip_suffix, time_split
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["TSBLoader", "load_tsb", "parse_tsb_ad_name"]

_SUFFIXES = (".csv.gz", ".csv", ".out.gz", ".out")
_TRAIN = re.compile(r"_tr_(\d+)(?:_|$)")
_FIRST = re.compile(r"_1st_(\d+)(?:_|$)")


def parse_tsb_ad_name(stem: str) -> tuple[int | None, int | None]:
    """Return ``(train_length, first_anomaly)`` from a TSB-AD file name (None where absent)."""
    train, first = _TRAIN.search(stem), _FIRST.search(stem)
    return (int(train[1]) if train else None, int(first[1]) if first else None)


class TSBLoader(DatasetLoader):
    """TSB-AD CSV and TSB-UAD ``.out`` series."""

    name = "TSB"
    folders = ("TSB",)
    description = "TSB-AD/*.csv (Data...,Label) and TSB-UAD/**/*.out (value,label, no header)"

    def _files(self, directory: Path) -> dict[str, Path]:
        files = {}
        for p in directory.rglob("*"):
            stem = strip_suffix(p.name, _SUFFIXES)
            if stem is not None and p.is_file():
                files[(p.parent.relative_to(directory) / stem).as_posix()] = p
        return files

    def _looks_like(self, path: Path) -> bool:
        return (path / "TSB-AD").is_dir() or (path / "TSB-UAD").is_dir()

    def _list(self, directory: Path) -> list[str]:
        return sorted(self._files(directory))

    def _load(
        self,
        directory: Path,
        short_name: str,
        *,
        test_part: Literal["after_train", "full"] = "after_train",
        train_fraction: float | None = None,
        **options: Any,
    ) -> SeriesData:
        if options:
            raise TypeError(f"TSB loader options are test_part=..., train_fraction=...; got {sorted(options)}")
        if test_part not in ("after_train", "full"):
            raise ValueError(f"test_part must be 'after_train' or 'full', got {test_part!r}")
        path = self._files(directory)[short_name]
        is_out = path.name.endswith((".out", ".out.gz"))
        if is_out:
            frame = read_table(path, header=False, n_fields=2)
            data_cols, label_col, channels = [0], 1, ["value"]
        else:
            frame = read_table(path, header=True)
            columns = [str(c).strip() for c in frame.columns]
            frame.columns = columns
            if len(columns) < 2 or columns[-1] != "Label":
                raise ValueError(f"{path}: the last column must be 'Label' (TSB-AD layout); got {','.join(columns)}")
            data_cols, label_col, channels = columns[:-1], "Label", columns[:-1]
        values = numeric_columns(frame, data_cols, path, header=not is_out)
        labels = label_column(frame[label_col], path, first_line=1 if is_out else 2)
        n = len(values)
        meta: dict[str, Any] = {"source": str(path)}
        if is_out:
            cut = None if train_fraction is None else time_split(n, train_fraction, str(path))
            meta["split"] = (
                "no training part (whole series is the test part)"
                if cut is None
                else f"time split: first floor({train_fraction} * n) = {cut} steps as train (labels ignored)"
            )
        else:
            if train_fraction is not None:
                raise ValueError(f"{path}: a TSB-AD file carries its own split (_tr_<n>_); drop train_fraction")
            cut, first = parse_tsb_ad_name(short_name.rsplit("/", 1)[-1])
            meta["first_anomaly"] = first
            if cut is not None and not 0 < cut < n:
                raise ValueError(f"{path}: the name gives a training prefix of {cut} steps for a series of {n}")
            meta["split"] = (
                "no training part (no _tr_<n>_ in the name)"
                if cut is None
                else f"training prefix of {cut} steps from the name; test = "
                + ("the rest" if test_part == "after_train" else "the whole series (overlaps train)")
            )
        train = None if cut is None else values[:cut]
        start = 0 if cut is None or (not is_out and test_part == "full") else cut
        meta["train_label_steps"] = 0 if cut is None else int(labels[:cut].sum())
        meta["test_start"] = start
        meta["has_anomaly"] = bool(labels[start:].any())
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=train,
            test=values[start:],
            labels=labels[start:],
            channels=channels,
            meta=meta,
        )


TSB = TSBLoader()


def load_tsb(
    root: str | Path | None = None, names: Sequence[str] | None = None, **options: Any
) -> Iterator[SeriesData]:
    """Lazily load TSB-AD / TSB-UAD series; options ``test_part`` and ``train_fraction`` (``.out`` only)."""
    return TSB(root, names, **options)
