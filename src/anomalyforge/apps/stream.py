"""Score CSV rows as they arrive (``anomalyforge stream``): one JSON line per step, one per alert.

Input: a CSV with a header line, from stdin (``-``) or a file; with ``follow`` the file is read like
``tail -f`` (new rows appended to it are scored) until nothing new arrives for ``idle_timeout`` seconds.
The header is checked against the model's data schema (``apps.fitscore.DataSchema``): missing or extra
columns are an error naming them, the same channels in another order are reordered by name. A row is
scored only once its line is complete (ends with a newline, or the input ended): a partial last line in
follow mode waits for the rest; if the stream stops first, it is reported on stderr, never dropped silently.

Output, one JSON object per line: ``{"step", "timestamp" (when the file has a timestamp column), "score",
"flag"}`` for each step once its score is final (``core.stream``: at most ``latency`` rows later), and
``{"alert": {...}}`` (an ``AlertInterval``) when an alert interval closes, and at the end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import select
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from anomalyforge.apps.fitscore import DataSchema, load_fitted
from anomalyforge.core.intervals import IntervalTracker, calibrated_p_values
from anomalyforge.core.stream import Stream, StreamScores
from anomalyforge.datasets.generic import split_columns

__all__ = ["StreamSummary", "run_stream", "read_lines", "RowParser"]

_MISSING = {"", "nan", "NaN", "NA", "null", "None"}


class BadRow(ValueError):
    """A line that cannot be read; ``rows`` / ``stamps`` hold the good rows of its batch before it."""

    def __init__(self, message: str, rows: np.ndarray, stamps: list[str] | None) -> None:
        super().__init__(message)
        self.rows, self.stamps = rows, stamps


@dataclass
class StreamSummary:
    """What ``run_stream`` did."""

    rows: int
    steps: int
    alerts: int
    latency: int
    pending_line: str | None


# ----------------------------------------------------------------------------------------- reading
def read_lines(
    source: IO[bytes] | int,
    *,
    follow: bool = False,
    idle_timeout: float | None = None,
    poll: float = 0.1,
    block: int = 1 << 16,
    leftover: list[bytes] | None = None,
) -> Iterator[list[str]]:
    """Complete lines as they become available, in batches (one batch per read).

    Args:
        source: a binary file or a file descriptor (stdin: ``sys.stdin.buffer``).
        follow: at the end of the data wait for more (a file being appended to) instead of stopping.
        idle_timeout: stop after this many seconds without new data (None: never, while following or
            waiting on a pipe).
        poll: seconds between checks for new data at the end of a followed file.
        block: bytes per read.
        leftover: if given, receives an incomplete last line left when the reading stopped on the timeout.

    Yields:
        lists of decoded lines without their line ends (``\\r\\n`` or ``\\n``); at the end of a
        non-followed input, a last line without a newline is complete and yielded too.
    """
    fd = source if isinstance(source, int) else source.fileno()
    pending = b""
    last_data = time.monotonic()
    while True:
        wait = None if idle_timeout is None else max(0.0, idle_timeout - (time.monotonic() - last_data))
        ready, _, _ = select.select([fd], [], [], wait)  # regular files are always ready
        chunk = os.read(fd, block) if ready else b""
        if chunk:
            last_data = time.monotonic()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if lines:
                yield [_decode(line) for line in lines]
            continue
        idle = idle_timeout is not None and time.monotonic() - last_data >= idle_timeout
        if ready and not follow:  # end of input
            if pending:
                yield [_decode(pending)]
            return
        if idle:
            if pending and leftover is not None:
                leftover.append(pending)
            return
        if ready:  # followed file at its end: wait for more
            time.sleep(poll)


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the input is not UTF-8 text ({exc})") from exc


class RowParser:
    """CSV lines -> (rows in the fitted channel order, timestamps), checked against a data schema.

    Args:
        header: the header line.
        schema: the model's data schema.
        fill: ``"none"`` (an empty cell is an error) or ``"ffill"`` (an empty cell takes the channel's last
            value; a stream cannot back-fill, so an empty cell before any value is an error).
        where: name of the input, for messages.
    """

    def __init__(self, header: str, schema: DataSchema, fill: str, where: str) -> None:
        if fill not in ("none", "ffill"):
            raise ValueError(f"--fill must be none or ffill, got {fill!r}")
        self.where, self.fill = where, fill
        self.columns = [c.strip() for c in next(csv.reader([header]))]
        timestamp = schema.timestamp_column if schema.timestamp_column in self.columns else None
        _, time_col, channels = split_columns(self.columns, timestamp_column=timestamp, where=where)
        order, self.notice = schema.order_of(channels, where)
        self.channels = order
        self.index = [self.columns.index(c) for c in order]
        self.time_index = None if time_col is None else self.columns.index(time_col)
        self.last = np.full(len(order), np.nan)
        self.line_no = 1  # the header

    def parse(self, lines: list[str]) -> tuple[np.ndarray, list[str] | None]:
        """Parse complete data lines (blank ones skipped).

        Raises:
            BadRow: naming the line and column; it carries the good rows before the bad line, so that the
                caller can score them before stopping.
        """
        rows = np.empty((len(lines), len(self.index)))
        stamps: list[str] | None = [] if self.time_index is not None else None
        k = 0
        try:
            for fields in csv.reader(lines):
                self.line_no += 1
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if len(fields) != len(self.columns):
                    raise ValueError(
                        f"{self.where}: line {self.line_no} has {len(fields)} fields, the header has "
                        f"{len(self.columns)} ({', '.join(self.columns)})"
                    )
                for j, col in enumerate(self.index):
                    rows[k, j] = self._value(fields[col].strip(), j)
                if stamps is not None:
                    stamps.append(fields[self.time_index].strip())  # type: ignore[index]
                k += 1
        except ValueError as exc:
            raise BadRow(str(exc), rows[:k], None if stamps is None else stamps[:k]) from None
        return rows[:k], stamps

    def _value(self, text: str, j: int) -> float:
        name = self.channels[j]
        if text in _MISSING:
            if self.fill == "none":
                raise ValueError(
                    f"{self.where}: line {self.line_no}, column {name!r} is empty (a missing value); pass "
                    "--fill ffill to carry the channel's last value forward"
                )
            if math.isnan(self.last[j]):
                raise ValueError(
                    f"{self.where}: line {self.line_no}, column {name!r} is empty and no earlier row has a value "
                    "to fill it with (a stream cannot fill backwards)"
                )
            return float(self.last[j])
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{self.where}: line {self.line_no}, column {name!r}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{self.where}: line {self.line_no}, column {name!r}: {text!r} is not a finite number")
        self.last[j] = value
        return value


# -------------------------------------------------------------------------------------------- run
def run_stream(
    model_path: str | Path,
    source: str = "-",
    *,
    follow: bool = False,
    idle_timeout: float | None = None,
    poll: float = 0.1,
    fill: str | None = None,
    max_gap: int = 0,
    min_length: int = 1,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> StreamSummary:
    """Score the rows of ``source`` (a CSV file, or ``-`` for stdin) with a model saved by ``fit``.

    Args:
        model_path: the ``.safetensors`` file written by ``fit`` (or ``detect --save-model``).
        source: CSV path or ``-`` (stdin).
        follow: keep reading a file as it grows (``tail -f``), until ``idle_timeout``.
        idle_timeout: stop after this many seconds without new data (None: never).
        poll: seconds between checks of a followed file.
        fill: ``none`` or ``ffill`` (default: the model's fill option).
        max_gap, min_length: the alert merge rule (``core.intervals``).
        out, err: where JSON lines and notices go (default stdout / stderr).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    model, schema, _ = load_fitted(model_path)
    stream = Stream(model)
    reference = np.sort(model.threshold_reference())
    tracker = IntervalTracker(max_gap=max_gap, min_length=min_length)
    where = "stdin" if source == "-" else str(source)
    leftover: list[bytes] = []
    pending_stamps: deque[str] = deque()
    parser: RowParser | None = None
    n_steps = n_alerts = 0

    def emit(result: StreamScores) -> None:
        nonlocal n_steps, n_alerts
        if not len(result):
            return
        with_time = parser is not None and parser.time_index is not None
        stamps = [pending_stamps.popleft() for _ in range(len(result))] if with_time else None
        p = calibrated_p_values(result.scores, reference, is_sorted=True) if reference.size else None
        lines = []
        for i, (score, flag) in enumerate(zip(result.scores.tolist(), result.flags.tolist(), strict=True)):
            record: dict[str, Any] = {"step": result.first_step + i}
            if stamps is not None:
                record["timestamp"] = stamps[i]
            record["score"] = score
            record["flag"] = flag
            lines.append(json.dumps(record))
        for interval in tracker.update(result.first_step, result.flags, result.scores, timestamps=stamps, p_values=p):
            lines.append(json.dumps({"alert": interval.as_dict()}))
            n_alerts += 1
        n_steps += len(result)
        out.write("\n".join(lines) + "\n")
        out.flush()

    handle = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        try:
            for lines in read_lines(handle, follow=follow, idle_timeout=idle_timeout, poll=poll, leftover=leftover):
                if parser is None:
                    while lines and not lines[0].strip():
                        lines = lines[1:]
                    if not lines:
                        continue
                    parser = RowParser(lines[0], schema, fill or schema.fill, where)
                    if parser.notice:
                        print(f"anomalyforge stream: notice: {parser.notice}", file=err)
                    lines = lines[1:]
                try:
                    rows, stamps = parser.parse(lines)
                except BadRow as bad:  # score the good rows before the bad line, then stop
                    pending_stamps.extend(bad.stamps or [])
                    emit(stream.update(bad.rows))
                    raise ValueError(str(bad)) from None
                pending_stamps.extend(stamps or [])
                emit(stream.update(rows))
        except KeyboardInterrupt:
            print("anomalyforge stream: interrupted; scoring the rows received so far", file=err)
        if parser is None:
            raise ValueError(f"{where}: no header line arrived; the input must start with the CSV header")
        emit(stream.flush())
        closing = tracker.close()
        for interval in closing:
            out.write(json.dumps({"alert": interval.as_dict()}) + "\n")
        n_alerts += len(closing)
        out.flush()
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    pending = leftover[0].decode("utf-8", "replace") if leftover else None
    if pending is not None:
        print(
            f"anomalyforge stream: notice: stopped after {idle_timeout} s without new data while the last line "
            f"was incomplete (no end of line): {pending!r}; it was not scored",
            file=err,
        )
    return StreamSummary(rows=stream.n_rows, steps=n_steps, alerts=n_alerts, latency=stream.latency,
                         pending_line=pending)  # fmt: skip
