"""Common pieces of the dataset loaders: the `SeriesData` record, the data-root lookup and `DatasetLoader`.

Every published layout has one `DatasetLoader` subclass (in its own module). A loader knows where its
files sit below a data root, lists its series from file names alone (no file is read to list), and loads
one series into a `SeriesData`: plain float64 arrays, 0/1 labels, channel names and metadata.
"""

from __future__ import annotations

import difflib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ENV_VAR",
    "DatasetLoader",
    "SeriesData",
    "labels_to_ranges",
    "ranges_to_labels",
    "resolve_root",
]

ENV_VAR = "ANOMALYFORGE_DATA"
# src/anomalyforge/datasets/base.py -> parents[3] is the repository (or site-packages parent) folder.
_REPO_DIR = Path(__file__).resolve().parents[3]


def labels_to_ranges(labels: np.ndarray) -> list[tuple[int, int]]:
    """Convert 0/1 labels to anomaly ranges.

    Args:
        labels: Array of shape (n,), nonzero marks an anomalous step.

    Returns:
        List of half-open ``(start, end)`` index pairs, in order, one per run of nonzero labels.
    """
    flags = np.asarray(labels).reshape(-1) != 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def ranges_to_labels(ranges: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """Convert half-open ``(start, end)`` ranges to 0/1 labels of shape (n,), dtype int8.

    Raises:
        ValueError: If a range is empty, reversed or outside ``[0, n)``.
    """
    labels = np.zeros(n, dtype=np.int8)
    for start, end in ranges:
        if not 0 <= start < end <= n:
            raise ValueError(f"anomaly range ({start}, {end}) is not inside a series of length {n}")
        labels[start:end] = 1
    return labels


@dataclass
class SeriesData:
    """One benchmark series, split into an (optional) training part and a labelled test part.

    Attributes:
        name: Unique name ``"<dataset>/<series>"``, e.g. ``"SMD/machine-1-1"`` or ``"MSL/C-1"``.
        dataset: Dataset key, e.g. ``"SMD"``.
        train: Training part, shape (n_train, C), float64; None when the layout has no training part.
        test: Test part, shape (n_test, C), float64; every step gets a score.
        labels: Test labels, shape (n_test,), int8 0/1.
        channels: The C channel names.
        meta: Free metadata: source path, the split rule used, dataset-specific extras.
    """

    name: str
    dataset: str
    train: np.ndarray | None
    test: np.ndarray
    labels: np.ndarray
    channels: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.test = _as_matrix(self.test, f"{self.name}: test")
        if self.train is not None:
            self.train = _as_matrix(self.train, f"{self.name}: train")
            if self.train.shape[1] != self.test.shape[1]:
                raise ValueError(
                    f"{self.name}: train has {self.train.shape[1]} channels but test has {self.test.shape[1]}"
                )
        labels = np.asarray(self.labels).reshape(-1)
        if labels.shape[0] != self.test.shape[0]:
            raise ValueError(
                f"{self.name}: {labels.shape[0]} labels for a test part of {self.test.shape[0]} steps"
            )
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{self.name}: labels must be 0 or 1, found {np.unique(labels)[:5]}")
        self.labels = labels.astype(np.int8)
        if len(self.channels) != self.test.shape[1]:
            raise ValueError(
                f"{self.name}: {len(self.channels)} channel names for {self.test.shape[1]} channels"
            )
        self.channels = [str(c) for c in self.channels]

    @property
    def n_channels(self) -> int:
        """Number of channels C."""
        return int(self.test.shape[1])

    @property
    def anomaly_ranges(self) -> list[tuple[int, int]]:
        """Half-open ``(start, end)`` ranges of the test labels, in test indices."""
        return labels_to_ranges(self.labels)

    def __repr__(self) -> str:
        n_train = None if self.train is None else self.train.shape[0]
        return (
            f"SeriesData({self.name!r}, train={n_train}, test={self.test.shape[0]}, "
            f"channels={self.n_channels}, anomalies={len(self.anomaly_ranges)})"
        )


def _as_matrix(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{what} must have shape (n_timesteps, n_channels), got {arr.shape}")
    return arr


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Find the benchmark data root.

    Order: the ``root`` argument; else the ``ANOMALYFORGE_DATA`` environment variable; else
    ``../shared/datasets`` relative to the current directory, then relative to the repository.

    Raises:
        FileNotFoundError: If the given folder does not exist, or nothing is found.
    """
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"data root {str(path)!r} is not a folder")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{ENV_VAR}={env!r} is not a folder; fix or unset it")
        return path
    tried = [Path.cwd() / ".." / "shared" / "datasets", _REPO_DIR / ".." / "shared" / "datasets"]
    for path in tried:
        if path.is_dir():
            return path.resolve()
    raise FileNotFoundError(
        "no benchmark data folder found: pass root=..., set the environment variable "
        f"{ENV_VAR}, or place the data in ../shared/datasets (tried {', '.join(map(str, tried))})"
    )


class DatasetLoader(ABC):
    """A published dataset layout.

    Subclasses set ``name`` and ``folders`` (candidate sub-folders of the data root, in order) and write
    ``_looks_like`` (is this folder the layout?), ``_list`` (short series names from file names) and
    ``_load`` (one series). The data root may also be the dataset folder itself.
    """

    name: str = ""
    folders: tuple[str, ...] = ()
    description: str = ""

    @abstractmethod
    def _looks_like(self, path: Path) -> bool:
        """True if ``path`` is a folder in this layout."""

    @abstractmethod
    def _list(self, directory: Path) -> list[str]:
        """Short series names (without the ``"<dataset>/"`` prefix), sorted, from file names only."""

    @abstractmethod
    def _load(self, directory: Path, short_name: str, **options: Any) -> SeriesData:
        """Read one series."""

    def locate(self, root: str | os.PathLike[str] | None = None) -> Path | None:
        """Return this dataset's folder below the data root (or the root itself), or None if absent."""
        base = resolve_root(root)
        for folder in self.folders:
            candidate = base / folder
            if candidate.is_dir() and self._looks_like(candidate):
                return candidate
        return base if self._looks_like(base) else None

    def directory(self, root: str | os.PathLike[str] | None = None) -> Path:
        """Like `locate`, but raise a clear FileNotFoundError when the dataset is absent."""
        found = self.locate(root)
        if found is None:
            base = resolve_root(root)
            raise FileNotFoundError(
                f"{self.name} not found under {base} (looked in {', '.join(self.folders) or 'the root'}); "
                f"expected layout: {self.description}"
            )
        return found

    def list_series(self, root: str | os.PathLike[str] | None = None) -> list[str]:
        """Full series names ``"<dataset>/<series>"``, from file names only."""
        return [f"{self.name}/{s}" for s in self._list(self.directory(root))]

    def load_series(self, name: str, root: str | os.PathLike[str] | None = None, **options: Any) -> SeriesData:
        """Load one series by its full (``"SMD/machine-1-1"``) or short (``"machine-1-1"``) name."""
        directory = self.directory(root)
        return self._load(directory, self._check_name(directory, name), **options)

    def __call__(
        self,
        root: str | os.PathLike[str] | None = None,
        names: Sequence[str] | None = None,
        **options: Any,
    ) -> Iterator[SeriesData]:
        """Lazily load several series (all when ``names`` is None); names are checked before reading."""
        directory = self.directory(root)
        wanted = self._list(directory) if names is None else [self._check_name(directory, n) for n in names]
        return (self._load(directory, short, **options) for short in wanted)

    def _check_name(self, directory: Path, name: str) -> str:
        short = name[len(self.name) + 1 :] if name.startswith(self.name + "/") else name
        available = self._list(directory)
        if short not in available:
            close = difflib.get_close_matches(short, available, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(available)} series available"
            raise ValueError(f"{self.name} has no series {name!r} in {directory}{hint}")
        return short

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
