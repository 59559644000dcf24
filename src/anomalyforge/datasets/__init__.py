"""Benchmark data loaders: each published layout read as it is distributed, into plain arrays.

Every loader returns `SeriesData` records: ``train`` (n_train, C) float64 or None, ``test`` (n_test, C)
float64, ``labels`` (n_test,) int8 0/1 with one label per test step, ``channels`` and ``meta`` (source
path, the split rule used, dataset extras). ``anomaly_ranges`` gives the half-open ``[start, end)`` runs
of the labels. Nothing is fitted on the test part by construction: every split below is a time split
with the training part first.

Data root: the ``root`` argument, else the environment variable ``ANOMALYFORGE_DATA``, else
``../shared/datasets`` relative to the current directory or to the repository. A root may also be
one dataset's own folder. Text files may be plain or gzip-compressed (``.txt``/``.txt.gz``,
``.csv``/``.csv.gz``). Listing reads file names only (KPI's combined file is the one exception).

Layouts (folder below the root) -> split -> labels:

- ``SMD``: ``SMD/ServerMachineDataset/{train,test,test_label,interpretation_label}/machine-X-Y.txt``;
  published train / test files, 38 channels; ``test_label`` 0/1 per line.
- ``MSL``, ``SMAP`` (telemanom): ``{train,test}/<chan>.npy`` + ``labeled_anomalies.csv``; published
  train / test, 55 channels (``value_only=True``: column 0); inclusive ``[start, end]`` -> ``[start, end + 1)``.
- ``UCR``: ``UCR/UCR_Anomaly_FullData/NNN_UCR_Anomaly_<name>_<trainEnd>_<b>_<e>.txt``; first ``trainEnd``
  values / the rest; the name's 1-based inclusive ``b..e`` -> 0-based ``[b - 1, e)`` of the whole series.
- ``NAB``: ``NAB/data/<group>/<name>.csv`` + ``labels/combined_windows.json``; first ``floor(0.15 n)``
  steps (probationary period) / the rest (``probation_cap=750`` gives NAB's scorer rule); a step is
  anomalous when its timestamp lies in a window (ends included).
- ``GECCO``: ``GECCO/gecco2018_water_quality.csv.gz``; first half / second half; empty cells forward-
  then back-filled (``fill="none"`` keeps NaN, ``meta["n_filled"]``); EVENT TRUE/FALSE.
- ``KPI`` (AIOps 2018): ``KPI/<kpi>.csv`` ``timestamp,value,label`` (header optional) or the combined
  file with a ``KPI ID`` column; first half / second half.
- ``Yahoo`` (S5): ``Yahoo/A1Benchmark/real_1.csv`` ... ``timestamp,value,is_anomaly`` (A3/A4:
  ``timestamps,value,anomaly,...``); first half / second half.
- ``TSB``: ``TSB/TSB-AD/*_tr_<n>_1st_<k>.csv`` (``Data...,Label``): the ``_tr_<n>_`` prefix / the rest
  (``test_part="full"`` scores the whole series as TSB-AD does); ``TSB/TSB-UAD/**/*.out``
  (``value,label``, no header): no train part (``train_fraction`` to make one).
- ``generic``: ``generic/*.csv|.parquet`` or `load_generic(path)`: numeric columns are channels,
  optional timestamp and ``label``/``is_anomaly`` columns; no split unless ``train_end`` /
  ``train_fraction``.

Where a dataset has no training part of its own, labels of the leading part used as ``train`` are
not returned (training is unsupervised); their count is ``meta["train_label_steps"]``.
``meta["has_anomaly"]`` says whether the test labels contain an anomaly (False for the six NAB series
without a window). Bad files raise a ValueError naming the file, the line and the problem: a wrong
number of fields, a non-numeric or missing cell where numbers are expected, a label that is not 0/1,
or a label count that differs from the test length.

Usage::

    from anomalyforge.datasets import list_series, load_series, load_smd
    names = list_series("UCR")                        # ["UCR/001_UCR_Anomaly_...", ...]
    s = load_series("MSL", "C-1")                     # SeriesData
    for s in load_smd(names=["machine-1-2"]): ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from anomalyforge.datasets.base import DatasetLoader, SeriesData, labels_to_ranges, ranges_to_labels, resolve_root
from anomalyforge.datasets.gecco import GECCO, load_gecco
from anomalyforge.datasets.generic import GENERIC, load_generic, load_generic_folder
from anomalyforge.datasets.kpi import KPI, load_kpi
from anomalyforge.datasets.nab import NAB, load_nab
from anomalyforge.datasets.nasa import MSL, SMAP, load_msl, load_smap
from anomalyforge.datasets.smd import SMD, load_smd
from anomalyforge.datasets.tsb import TSB, load_tsb
from anomalyforge.datasets.ucr import UCR, load_ucr, parse_ucr_name
from anomalyforge.datasets.yahoo import YAHOO, load_yahoo

__all__ = [
    "DATASETS",
    "DatasetLoader",
    "SeriesData",
    "describe_datasets",
    "find_datasets",
    "get_loader",
    "labels_to_ranges",
    "list_series",
    "load_gecco",
    "load_generic",
    "load_generic_folder",
    "load_kpi",
    "load_msl",
    "load_nab",
    "load_series",
    "load_smap",
    "load_smd",
    "load_tsb",
    "load_ucr",
    "load_yahoo",
    "parse_ucr_name",
    "ranges_to_labels",
    "resolve_root",
]

#: Dataset key -> loader object (call it like ``DATASETS["SMD"](root, names)``).
DATASETS: dict[str, DatasetLoader] = {
    loader.name: loader for loader in (SMD, MSL, SMAP, UCR, NAB, GECCO, KPI, YAHOO, TSB, GENERIC)
}

Root = str | os.PathLike[str] | None


def get_loader(dataset: str) -> DatasetLoader:
    """The loader for a dataset key (case-insensitive), e.g. ``"smd"`` -> the SMD loader."""
    by_lower = {k.lower(): v for k, v in DATASETS.items()}
    try:
        return by_lower[dataset.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}") from None


def list_series(dataset: str, root: Root = None) -> list[str]:
    """Full series names ``"<dataset>/<series>"`` of one dataset, from file names only."""
    return get_loader(dataset).list_series(root)


def load_series(dataset: str, name: str, root: Root = None, **options: Any) -> SeriesData:
    """Load one series by full (``"MSL/C-1"``) or short (``"C-1"``) name; options go to the loader."""
    return get_loader(dataset).load_series(name, root, **options)


def describe_datasets(root: Root = None) -> list[tuple[str, int, str]]:
    """Rows ``(dataset, n_series, folder)`` for every dataset found below the data root (for the CLI).

    Raises:
        FileNotFoundError: If no data root is found.
    """
    base = resolve_root(root)
    rows = []
    for key, loader in DATASETS.items():
        if loader is GENERIC:  # not a published layout: only on explicit request
            continue
        folder = loader.locate(base)
        if folder is None:
            continue
        n_series = len(loader.list_series(folder))
        if n_series:
            rows.append((key, n_series, str(Path(folder))))
    return rows


def find_datasets(root: Root = None) -> dict[str, int]:
    """``{dataset: number of series}`` for every dataset found below the data root."""
    return {key: n for key, n, _ in describe_datasets(root)}
