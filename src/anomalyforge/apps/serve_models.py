"""What ``anomalyforge serve`` scores with: a folder of signed models, request rows, durable streams.

- ``ModelCatalog``: ``NAME.safetensors`` files of one folder, loaded only when their HMAC signature checks
  with the service's key (``core.persistence``), cached until the file changes. A model name is a plain
  file stem (letters, digits, ``._-``, no ``..``); its resolved path must sit directly in the folder, so no
  name or symbolic link reaches a file elsewhere.
- ``parse_rows``: a CSV body (header line, the model's channel names) or JSON ``{"rows", "columns"}`` ->
  rows in the fitted channel order; names missing or extra, wrong row widths, text, NaN and inf are errors
  naming the row and column.

Streams are in ``serve_streams``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anomalyforge.apps.fitscore import DataSchema, attribute_intervals, load_fitted, peak_p_values
from anomalyforge.core.base import BaseDetector
from anomalyforge.core.intervals import flag_intervals
from anomalyforge.core.stream import Stream

__all__ = ["ApiError", "LoadedModel", "ModelCatalog", "parse_rows", "score_batch", "ATTRIBUTION_NOTE"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ATTRIBUTION_NOTE = (
    "stream alerts have no top_channels: a stream keeps about one window of rows, too little to attribute an "
    "interval; score the stretch in a batch (POST /models/{name}/score) for its channels"
)


class ApiError(Exception):
    """An error the client caused (or can act on): HTTP status and a message in the caller's terms."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# ------------------------------------------------------------------------------------------- models
@dataclass
class LoadedModel:
    """A verified model and what the service tells about it."""

    name: str
    path: Path
    detector: BaseDetector
    schema: DataSchema
    metadata: dict[str, Any]
    digest: str  # SHA-256 of the file's bytes: a stream is tied to the exact file it was opened on
    stamp: tuple[int, int, int]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self) -> dict[str, Any]:
        import anomalyforge

        det = self.detector
        return {
            "name": self.name,
            "detector": det.registry_name or type(det).__name__,
            "channels": len(self.schema.channels),
            "channel_names": list(self.schema.channels),
            "timestamp_column": self.schema.timestamp_column,
            "training_rows": self.metadata.get("training_rows"),
            "trained_on": self.metadata.get("trained_on"),
            "threshold": float(det.threshold_),
            "stream_latency": Stream(det).latency,
            "min_rows": int(det.min_series_length()),
            "package_version": anomalyforge.__version__,
            "digest": self.digest,
            "channel_attribution": "batch scoring" if len(self.schema.channels) > 1 else False,
        }


class ModelCatalog:
    """Signed models in one folder (see the module docstring).

    Args:
        folder: the models folder.
        key: the signing key every model must be signed with.
    """

    def __init__(self, folder: str | Path, key: bytes) -> None:
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise ValueError(f"--models {folder}: no such folder")
        self.key = key
        self._cache: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def path_for(self, name: str) -> Path:
        """The file of model ``name``, refusing names that could leave the folder."""
        if not _NAME.fullmatch(name) or ".." in name:
            raise ApiError(400, f"model name {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
                                "(no '/', no '..'), the file name without .safetensors")  # fmt: skip
        path = (self.folder / f"{name}.safetensors").resolve()
        if path.parent != self.folder:
            raise ApiError(400, f"model name {name!r} resolves outside the models folder; refused")
        return path

    def names(self) -> list[str]:
        return sorted(p.name[: -len(".safetensors")] for p in self.folder.glob("*.safetensors")
                      if _NAME.fullmatch(p.name[: -len(".safetensors")]))  # fmt: skip

    def get(self, name: str) -> LoadedModel:
        """The verified model ``name``, loaded again when its file changed.

        Raises:
            ApiError: 400 bad name, 404 no such model, 422 the file is refused (unsigned, another key, edited).
        """
        path = self.path_for(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ApiError(404, f"no model {name!r} in the models folder (GET /models lists them)") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached.stamp == stamp:
                return cached
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                detector, schema, metadata = load_fitted(path, key=self.key)
            except (ValueError, FileNotFoundError, KeyError, TypeError) as exc:
                self._cache.pop(name, None)
                raise ApiError(422, f"model {name!r} is refused: {exc}") from None
            loaded = LoadedModel(name, path, detector, schema, metadata, digest, stamp)
            self._cache[name] = loaded
            return loaded

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for name in self.names():
            try:
                out.append(self.get(name).info())
            except ApiError as exc:
                out.append({"name": name, "error": exc.message})
        return out


# --------------------------------------------------------------------------------------------- rows
def _finite_rows(rows: list[list[float]], width: int, names: list[str]) -> np.ndarray:
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ApiError(422, f"row {i} has {len(row)} values; the model has {width} channels "
                                f"({', '.join(names)})")  # fmt: skip
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), width)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise ApiError(422, f"row {i}, column {names[j]!r}: {X[i, j]} is not a finite number (NaN and inf are "
                            "refused; fill missing values before sending)")  # fmt: skip
    return X


def parse_rows(
    body: bytes, content_type: str, schema: DataSchema, *, columns: list[str] | None = None,
    rows: list[list[float]] | None = None, timestamps: list[str] | None = None,
) -> tuple[np.ndarray, list[str] | None, list[str]]:  # fmt: skip
    """Request rows -> ``(X (k, n_channels) in the fitted order, timestamps or None, notices)``.

    For JSON, ``rows`` / ``columns`` / ``timestamps`` come already validated (types) by the caller; for CSV
    the body is parsed here with the stream reader's rules (``apps.stream.RowParser``).
    """
    if content_type == "text/csv":
        from anomalyforge.apps.stream import RowParser

        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"the CSV body is not UTF-8 text ({exc})") from None
        lines = text.splitlines()
        while lines and not lines[0].strip():
            lines = lines[1:]
        if not lines:
            raise ApiError(422, "the CSV body is empty: send a header line with the channel names, then rows")
        try:
            parser = RowParser(lines[0], schema, schema.fill, "CSV body")
            X, stamps = parser.parse(lines[1:])
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        if not len(X):
            raise ApiError(422, "the CSV body has a header but no rows")
        return X, stamps, [parser.notice] if parser.notice else []
    names = list(schema.channels)
    notices: list[str] = []
    assert rows is not None
    if not rows:
        raise ApiError(422, "rows is empty: send at least one row")
    if columns is not None:
        if len(set(columns)) != len(columns):
            raise ApiError(422, f"columns has repeated names: {columns}")
        try:
            order, notice = schema.order_of(columns, "columns")
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        X = _finite_rows(rows, len(columns), columns)
        if notice:
            X = X[:, [columns.index(c) for c in order]]
            notices.append(notice)
    else:
        X = _finite_rows(rows, len(names), names)
    if timestamps is not None and len(timestamps) != len(X):
        raise ApiError(422, f"{len(timestamps)} timestamps for {len(X)} rows")
    return X, timestamps, notices


def floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def score_batch(model: LoadedModel, X: np.ndarray, stamps: list[str] | None, max_gap: int,
                min_length: int) -> dict[str, Any]:  # fmt: skip
    """Batch scores, flags and alert intervals of ``X`` (what ``anomalyforge score`` computes)."""
    det = model.detector
    if len(X) < det.min_series_length():
        raise ApiError(422, f"{len(X)} rows are fewer than the {det.min_series_length()} model {model.name!r} "
                            "needs to score a series (one window); send more rows or use a stream")  # fmt: skip
    with model.lock:
        scores = np.asarray(det.anomaly_score(X), dtype=np.float64)
    flags = (scores > float(det.threshold_)).astype(np.int8)
    intervals = flag_intervals(flags, scores, max_gap=max_gap, min_length=min_length, timestamps=stamps,
                               p_values=peak_p_values(det, scores))  # fmt: skip
    if X.shape[1] > 1:
        with model.lock:
            attribute_intervals(det, X, intervals, model.schema.channels)
    return {
        "model": model.name, "rows": len(X), "threshold": float(det.threshold_), "scores": floats(scores),
        "flags": [int(f) for f in flags], "intervals": [iv.as_dict() for iv in intervals], "notices": [],
    }  # fmt: skip
