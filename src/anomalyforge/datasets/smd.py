"""Server Machine Dataset (SMD, Su et al., KDD 2019), in the OmniAnomaly layout.

Layout (``ServerMachineDataset/``)::

    train/machine-X-Y.txt[.gz]                 comma-separated, no header, one row per step (38 columns)
    test/machine-X-Y.txt[.gz]                  same columns
    test_label/machine-X-Y.txt[.gz]            one 0/1 label per test step
    interpretation_label/machine-X-Y.txt[.gz]  optional, ``start-end:dim,dim,...`` (1-based dims)

Train on ``train``, score ``test``. ``meta["interpretation"]`` holds the interpretation labels as
``(start, end, dims)`` with half-open ``[start, end)`` test indices and 0-based channel indices (the
file's dims minus one). Read this way the file's ``start-end`` pairs equal the runs of ``test_label``
for 264 of the 268 entries of the 19 machines in ../shared/datasets; the other four differ in the
published files themselves (e.g. machine-1-3 ends one run at 23019 where test_label ends at 23020).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from anomalyforge.datasets._io import (
    find_file,
    label_column,
    numeric_columns,
    read_table,
    read_text,
    strip_suffix,
)
from anomalyforge.datasets.base import DatasetLoader, SeriesData

__all__ = ["SMDLoader", "load_smd", "read_interpretation"]


def read_interpretation(path: Path) -> list[tuple[int, int, list[int]]]:
    """Parse an SMD interpretation-label file.

    Returns:
        ``(start, end, dims)`` per line: ``start``/``end`` as written (used as half-open test indices),
        ``dims`` converted to 0-based channel indices.

    Raises:
        ValueError: Naming the line that is not ``start-end:dim,dim,...``.
    """
    out = []
    for i, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            span, dims = line.strip().split(":")
            start, end = (int(v) for v in span.split("-"))
            dim_list = [int(d) - 1 for d in dims.split(",") if d.strip()]
        except ValueError as exc:
            raise ValueError(f"{path}: line {i}: {line!r} is not 'start-end:dim,dim,...' ({exc})") from exc
        if end < start or min(dim_list, default=0) < 0:
            raise ValueError(f"{path}: line {i}: {line!r} has a reversed range or a dim below 1")
        out.append((start, end, dim_list))
    return out


class SMDLoader(DatasetLoader):
    """SMD machines: 38 channels, train part, labelled test part."""

    name = "SMD"
    folders = ("SMD/ServerMachineDataset", "ServerMachineDataset", "SMD")
    description = "train/, test/, test_label/ with machine-X-Y.txt[.gz] (comma-separated, no header)"

    def _looks_like(self, path: Path) -> bool:
        return (path / "test").is_dir() and (path / "test_label").is_dir() and (path / "train").is_dir()

    def _list(self, directory: Path) -> list[str]:
        names = {strip_suffix(p.name) for p in (directory / "test").iterdir() if p.is_file()}
        return sorted(n for n in names if n is not None)

    def _load(self, directory: Path, short_name: str, **options: Any) -> SeriesData:
        if options:
            raise TypeError(f"SMD loader takes no options, got {sorted(options)}")
        test_path = find_file(directory / "test", short_name)
        train_path = find_file(directory / "train", short_name)
        label_path = find_file(directory / "test_label", short_name)
        test_frame = read_table(test_path, header=False)
        n_channels = test_frame.shape[1]
        train_frame = read_table(train_path, header=False, n_fields=n_channels)
        test = numeric_columns(test_frame, list(test_frame.columns), test_path, header=False)
        train = numeric_columns(train_frame, list(train_frame.columns), train_path, header=False)
        label_frame = read_table(label_path, header=False, n_fields=1)
        labels = label_column(label_frame[0], label_path, first_line=1)
        if labels.shape[0] != test.shape[0]:
            raise ValueError(
                f"{label_path}: {labels.shape[0]} labels but {test_path.name} has {test.shape[0]} rows"
            )
        meta: dict[str, Any] = {
            "source": str(test_path),
            "split": "published train/test files",
            "has_anomaly": bool(labels.any()),
        }
        try:
            interp_path = find_file(directory / "interpretation_label", short_name)
        except FileNotFoundError:
            meta["interpretation"] = None
        else:
            interpretation = read_interpretation(interp_path)
            for start, end, dims in interpretation:
                if end > test.shape[0] or (dims and max(dims) >= n_channels):
                    raise ValueError(
                        f"{interp_path}: entry {start}-{end} on dims {[d + 1 for d in dims]} lies outside "
                        f"the test part ({test.shape[0]} steps, {n_channels} channels)"
                    )
            meta["interpretation"] = interpretation
        return SeriesData(
            name=f"{self.name}/{short_name}",
            dataset=self.name,
            train=train,
            test=test,
            labels=labels,
            channels=[f"dim_{j}" for j in range(n_channels)],
            meta=meta,
        )


SMD = SMDLoader()


def load_smd(root: str | Path | None = None, names: Sequence[str] | None = None) -> Iterator[SeriesData]:
    """Lazily load SMD machines (all, or the given names such as ``"machine-1-1"``), in name order."""
    return SMD(root, names)
