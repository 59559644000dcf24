"""Strict text-table reading for the loaders: every bad line is reported by file and line number.

Files may be plain or gzip-compressed (``.gz``). Nothing is dropped silently: a line with the wrong
number of fields, an empty line inside the data, a non-numeric or non-finite cell where numbers are
expected, or a label other than 0/1 raises a ValueError naming the file, the line and the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

TEXT_SUFFIXES = (".txt.gz", ".txt", ".csv.gz", ".csv", ".out.gz", ".out")
_TRUE = {"1", "1.0", "true", "t", "yes"}
_FALSE = {"0", "0.0", "false", "f", "no"}


def _show(value: object) -> str:
    """A cell for a message: strings quoted, numpy scalars as plain numbers."""
    return repr(value) if isinstance(value, str) else str(getattr(value, "item", lambda: value)())


def strip_suffix(filename: str, suffixes: Sequence[str] = TEXT_SUFFIXES) -> str | None:
    """Return ``filename`` without the first matching suffix, or None if none matches."""
    for suffix in suffixes:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


def find_file(directory: Path, stem: str, suffixes: Sequence[str] = TEXT_SUFFIXES) -> Path:
    """Return ``directory/stem<suffix>`` for the first suffix that exists.

    Raises:
        FileNotFoundError: Naming the paths tried.
    """
    for suffix in suffixes:
        path = directory / f"{stem}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no file {stem}{{{','.join(suffixes)}}} in {directory}")


def first_line(path: Path) -> str:
    """The first line of a (possibly gzipped) text file, stripped; "" if unreadable or empty."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.readline().strip()
    except (OSError, UnicodeDecodeError, EOFError):
        return ""


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, gunzipping ``*.gz``; undecodable content is a ValueError."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable text file ({exc})") from exc


def _line_counts(text: str, path: Path, skip: int, sep: str) -> tuple[np.ndarray, list[str] | None]:
    """Separator count + 1 per line (vectorised over the bytes); trailing blank lines dropped.

    Returns the counts and, when the text holds quotes (so that a quoted separator must not count), the
    lines themselves for a careful recount.
    """
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [data.size]))
    lengths = ends - starts
    has_cr = np.zeros(lengths.shape, dtype=bool)
    has_cr[lengths > 0] = data[ends[lengths > 0] - 1] == 13
    blank = (lengths - has_cr) == 0
    n_lines = int(np.flatnonzero(~blank)[-1]) + 1 if (~blank).any() else 0
    interior = np.flatnonzero(blank[skip:n_lines])
    if interior.size:
        raise ValueError(
            f"{path}: line {int(interior[0]) + skip + 1} is empty inside the data; remove it or fill it in"
        )
    if '"' in text:
        lines = text.split("\n")[:n_lines]
        return np.fromiter((len(r) for r in csv.reader(lines, delimiter=sep)), dtype=np.int64), lines
    seps = np.flatnonzero(data == ord(sep))
    counts = np.searchsorted(seps, ends[:n_lines]) - np.searchsorted(seps, starts[:n_lines]) + 1
    return counts, None


def check_field_counts(
    text: str, path: Path, n_fields: int | None, *, header: bool, sep: str = ","
) -> tuple[int, int]:
    """Check that every line has the same number of ``sep``-separated fields.

    Args:
        text: File content.
        path: File path, for messages.
        n_fields: Required field count, or None to take the first line's count.
        header: Whether the first line is a header (it is checked too).
        sep: Field separator.

    Returns:
        ``(n_fields, n_lines)``: the field count and the number of lines (header included, trailing
        blank lines excluded).

    Raises:
        ValueError: Naming the first line whose field count differs.
    """
    if len(sep) != 1:
        raise ValueError(f"separator must be one character, got {sep!r}")
    counts, _ = _line_counts(text, path, 1 if header else 0, sep)
    if not counts.size:
        raise ValueError(f"{path}: the file is empty")
    expected = int(counts[0]) if n_fields is None else n_fields
    bad = np.flatnonzero(counts != expected)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{path}: line {i + 1} has {counts[i]} fields, expected {expected} "
            f"({bad.size} line(s) differ); the file is malformed or not in the expected layout"
        )
    return expected, int(counts.size)


def read_table(
    path: Path, *, header: bool, n_fields: int | None = None, sep: str = ",", text: str | None = None
) -> pd.DataFrame:
    """Read a delimited table after checking its shape line by line.

    Returns:
        DataFrame whose row ``i`` comes from file line ``i + 1 + header`` (1-based).
    """
    text = read_text(path) if text is None else text
    _, n_lines = check_field_counts(text, path, n_fields, header=header, sep=sep)
    try:
        frame = pd.read_csv(
            io.StringIO(text), header=0 if header else None, sep=sep, skip_blank_lines=False, low_memory=False
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"{path}: could not be parsed as a table ({exc})") from exc
    # trailing blank lines were accepted by the checker; drop the all-empty rows pandas makes of them
    return frame.iloc[: n_lines - (1 if header else 0)]


def numeric_columns(
    frame: pd.DataFrame,
    columns: Sequence[object],
    path: Path,
    *,
    header: bool,
    allow_nan: bool = False,
    first_row: int | None = None,
    unit: str = "line",
) -> np.ndarray:
    """Convert the given columns to a float64 matrix (n_rows, len(columns)).

    Args:
        frame: Table from `read_table`.
        columns: Column labels to convert.
        path: File path, for messages.
        header: Whether the file had a header line (for line numbers).
        allow_nan: Keep empty cells as NaN (missing values) instead of raising.
        first_row: Number reported for the first row (default: its 1-based file line).
        unit: Word used for row numbers in messages ("line", or "row" for non-text files).

    Raises:
        ValueError: Naming the file, line and column of the first non-numeric, missing or infinite cell.
    """
    offset = (2 if header else 1) if first_row is None else first_row
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        raw = frame[col]
        if raw.dtype == bool:
            raw = raw.astype(np.float64)
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad_text = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
        if bad_text.size:
            i = int(bad_text[0])
            raise ValueError(
                f"{path}: {unit} {i + offset}, column {col!r}: {_show(raw.iloc[i])} is not a number "
                f"({bad_text.size} such cell(s)); the column is expected to be numeric"
            )
        bad = np.flatnonzero(~np.isfinite(values) if not allow_nan else np.isinf(values))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{path}: {unit} {i + offset}, column {col!r}: value {_show(raw.iloc[i])} is missing or infinite "
                f"({bad.size} such cell(s)); fix the file"
            )
        out[:, j] = values
    return out


def label_column(values: pd.Series | np.ndarray, path: Path, *, first_line: int, what: str = "label") -> np.ndarray:
    """Convert a label column (0/1, 0.0/1.0 or TRUE/FALSE) to int8 0/1.

    Args:
        values: The column.
        path: File path, for messages.
        first_line: 1-based file line of the first value.
        what: Column description for messages.

    Raises:
        ValueError: Naming the line of the first value that is not a 0/1 label.
    """
    series = pd.Series(values)
    if series.dtype == bool:
        return series.to_numpy().astype(np.int8)
    if pd.api.types.is_numeric_dtype(series):
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isin(arr, (0.0, 1.0)))
        if not bad.size:
            return arr.astype(np.int8)
    else:
        text = series.astype(str).str.strip().str.lower()
        ones, zeros = text.isin(_TRUE).to_numpy(), text.isin(_FALSE).to_numpy()
        bad = np.flatnonzero(~(ones | zeros))
        if not bad.size:
            return ones.astype(np.int8)
    i = int(bad[0])
    raise ValueError(
        f"{path}: line {i + first_line}: {what} {_show(series.iloc[i])} is not 0/1 (or TRUE/FALSE); "
        f"{bad.size} bad value(s)"
    )


def fill_missing(values: np.ndarray, how: Literal["ffill", "none"], path: Path) -> tuple[np.ndarray, int]:
    """Forward-fill then back-fill NaN per column (``how="ffill"``), or keep them (``"none"``).

    Returns:
        ``(values, n_filled)``: the filled (n, C) array and the number of cells that were missing.

    Raises:
        ValueError: For an unknown ``how``, or a column that is entirely missing.
    """
    if how not in ("ffill", "none"):
        raise ValueError(f"fill must be 'ffill' or 'none', got {how!r}")
    n_missing = int(np.isnan(values).sum())
    if how == "none" or n_missing == 0:
        return values, 0
    empty = np.flatnonzero(np.isnan(values).all(axis=0))
    if empty.size:
        raise ValueError(f"{path}: column {int(empty[0])} has no value at all; nothing to fill it with")
    filled = pd.DataFrame(values).ffill().bfill().to_numpy(dtype=np.float64)
    return filled, n_missing


def time_split(n: int, fraction: float, what: str) -> int:
    """Number of leading steps that form the training part: ``floor(fraction * n)``.

    Raises:
        ValueError: If ``fraction`` is not in [0, 1) or leaves an empty test part.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{what}: train fraction must be in [0, 1), got {fraction}")
    n_train = int(np.floor(fraction * n))
    if n_train >= n:
        raise ValueError(f"{what}: a train fraction of {fraction} leaves no test steps out of {n}")
    return n_train
