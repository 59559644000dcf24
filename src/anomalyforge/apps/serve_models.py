"""What ``anomalyforge serve`` scores with: a folder of signed models, request rows, durable streams.

- ``ModelCatalog``: ``NAME.safetensors`` files of one folder, loaded only when their HMAC signature checks
  with the service's key (``core.persistence``), cached until the file changes. A model name is a plain
  file stem (letters, digits, ``._-``, no ``..``); its resolved path must sit directly in the folder, so no
  name or symbolic link reaches a file elsewhere.
- ``parse_rows``: a CSV body (header line, the model's channel names) or JSON ``{"rows", "columns"}`` ->
  rows in the fitted channel order; names missing or extra, wrong row widths, text, NaN and inf are errors
  naming the row and column.
- ``StreamManager``: open streams (``core.stream.Stream`` + ``core.intervals.IntervalTracker``) whose state is
  committed to ``serve_store.StreamStore`` before a row batch is acknowledged, and restored from it at start.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anomalyforge.apps.fitscore import DataSchema, load_fitted, peak_p_values
from anomalyforge.apps.serve_store import StreamStore
from anomalyforge.core.base import BaseDetector
from anomalyforge.core.intervals import IntervalTracker, calibrated_p_values, flag_intervals
from anomalyforge.core.stream import Stream, StreamScores

__all__ = ["ApiError", "LoadedModel", "ModelCatalog", "StreamManager", "parse_rows", "score_batch"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
ATTRIBUTION_NOTE = "top_channels are empty: this build has no channel attribution (anomalyforge.core.attribution)"


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
            "channel_attribution": False,
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


def _floats(values: np.ndarray) -> list[float]:
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
    return {
        "model": model.name, "rows": len(X), "threshold": float(det.threshold_), "scores": _floats(scores),
        "flags": [int(f) for f in flags], "intervals": [iv.as_dict() for iv in intervals],
        "notices": [ATTRIBUTION_NOTE] if intervals else [],
    }  # fmt: skip


# ------------------------------------------------------------------------------------------ streams
@dataclass
class StreamSession:
    """An open stream in memory; its durable twin is a ``streams`` row."""

    id: str
    model: LoadedModel
    stream: Stream
    tracker: IntervalTracker
    reference: np.ndarray  # sorted training scores for p-values
    pending_stamps: list[str] | None
    n_alerts: int
    last_reply: dict[str, Any] | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self) -> dict[str, Any]:
        return {"stream": self.stream.state_dict(), "tracker": self.tracker.state_dict(),
                "pending_stamps": json.dumps(self.pending_stamps), "n_alerts": self.n_alerts}  # fmt: skip

    def status(self) -> dict[str, Any]:
        open_ = self.tracker.open_interval
        return {
            "id": self.id, "model": self.model.name, "status": "open", "rows": self.stream.n_rows,
            "scored": self.stream.n_emitted, "latency": self.stream.latency, "alerts": self.n_alerts,
            "open_alert": None if open_ is None else open_.as_dict(),
        }  # fmt: skip


class StreamManager:
    """Open streams, durable in ``store`` (see the module docstring).

    Args:
        catalog: where models come from.
        store: the state database.
        max_streams: open streams at most.
    """

    def __init__(self, catalog: ModelCatalog, store: StreamStore, max_streams: int = 256) -> None:
        self.catalog, self.store, self.max_streams = catalog, store, int(max_streams)
        self._sessions: dict[str, StreamSession] = {}
        self._broken: dict[str, str] = {}  # stored open streams that cannot be restored: id -> why
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------------- lifecycle
    def restore(self) -> tuple[int, int]:
        """Load the open streams of the database. Returns ``(restored, refused)``."""
        for rec in self.store.open_streams():
            try:
                model = self.catalog.get(rec.model)
                if model.digest != rec.model_digest:
                    raise ApiError(409, f"the file of model {rec.model!r} changed since stream {rec.id} was opened; "
                                        "its state cannot continue with another model (open a new stream)")  # fmt: skip
                assert rec.state is not None
                self._sessions[rec.id] = self._session(rec.id, model, rec.state, rec.last_reply)
            except ApiError as exc:
                self._broken[rec.id] = exc.message
            except (ValueError, KeyError, TypeError) as exc:
                self._broken[rec.id] = f"stream {rec.id} could not be restored: {exc}"
        return len(self._sessions), len(self._broken)

    def _session(self, sid: str, model: LoadedModel, state: dict[str, Any], last: dict[str, Any] | None) -> StreamSession:
        stream = Stream.from_state(model.detector, state["stream"])
        tracker = IntervalTracker.from_state(state["tracker"])
        return StreamSession(sid, model, stream, tracker, self._reference(model), json.loads(state["pending_stamps"]),
                             int(state["n_alerts"]), last)  # fmt: skip

    @staticmethod
    def _reference(model: LoadedModel) -> np.ndarray:
        return np.sort(np.asarray(getattr(model.detector, "train_scores_", np.empty(0)), dtype=np.float64))

    def open(self, model_name: str, max_gap: int, min_length: int, timestamps: bool) -> dict[str, Any]:
        model = self.catalog.get(model_name)
        with self._lock:
            if len(self._sessions) >= self.max_streams:
                raise ApiError(429, f"{len(self._sessions)} streams are open, the most this service keeps "
                                    "(--max-streams); close some with DELETE /streams/{id}")  # fmt: skip
            try:
                stream = Stream(model.detector)
            except NotImplementedError as exc:
                raise ApiError(422, str(exc)) from None
            tracker = IntervalTracker(max_gap=max_gap, min_length=min_length)
            sid = secrets.token_urlsafe(12)
            session = StreamSession(sid, model, stream, tracker, self._reference(model), [] if timestamps else None,
                                    0, None)  # fmt: skip
            self.store.create(sid, model.name, model.digest, session.state())
            self._sessions[sid] = session
        return session.status()

    def session(self, sid: str) -> StreamSession:
        if not _STREAM_ID.fullmatch(sid):
            raise ApiError(404, f"no stream {sid!r}")
        with self._lock:
            session = self._sessions.get(sid)
        if session is not None:
            return session
        if sid in self._broken:
            raise ApiError(409, self._broken[sid])
        rec = self.store.get(sid)
        if rec is None:
            raise ApiError(404, f"no stream {sid!r} (POST /streams opens one)")
        raise ApiError(409, f"stream {sid} is closed; open a new one with POST /streams")

    def status(self, sid: str) -> dict[str, Any]:
        try:
            return self.session(sid).status()
        except ApiError as exc:
            rec = self.store.get(sid) if exc.status == 409 else None
            if rec is None or rec.status != "closed":
                raise
            return {"id": sid, "model": rec.model, "status": "closed", "final": rec.last_reply}

    def alerts(self, sid: str) -> dict[str, Any]:
        status = self.status(sid)
        return {"id": sid, "status": status["status"], "alerts": self.store.alerts(sid),
                "open_alert": status.get("open_alert")}  # fmt: skip

    # --------------------------------------------------------------------------------------- rows
    def append(self, sid: str, X: np.ndarray, stamps: list[str] | None, first_row: int | None) -> dict[str, Any]:
        session = self.session(sid)
        with session.lock:
            if sid not in self._sessions:
                raise ApiError(409, f"stream {sid} is closed; open a new one with POST /streams")
            n = session.stream.n_rows
            last = session.last_reply
            if first_row is not None and first_row != n:
                if last is not None and last["first_row"] == first_row and last["batch_rows"] == len(X):
                    return {**last, "replayed": True}  # the client lost our reply: same answer, no second copy
                raise ApiError(409, f"first_row is {first_row} but the stream has acknowledged {n} rows; "
                                    f"send rows from row {n} on")  # fmt: skip
            if (session.pending_stamps is None) != (stamps is None):
                want = "with" if session.pending_stamps is not None else "without"
                raise ApiError(422, f"this stream was opened {want} timestamps; send every batch {want} them")
            before = session.state()
            try:
                with session.model.lock:
                    out = session.stream.update(X)
                reply, closed = self._emitted(session, out, stamps, first_row=n, batch_rows=len(X))
                self.store.commit_batch(sid, session.state(), closed, reply)
            except BaseException:
                self._rollback(session, before)
                raise
            session.last_reply = reply
            return reply

    def close(self, sid: str) -> dict[str, Any]:
        try:
            session = self.session(sid)
        except ApiError as exc:
            rec = self.store.get(sid) if exc.status == 409 else None
            if rec is not None and rec.status == "closed" and rec.last_reply is not None:
                return {**rec.last_reply, "replayed": True}
            raise
        with session.lock:
            before = session.state()
            notices = []
            try:
                with session.model.lock:
                    out = session.stream.flush()
            except ValueError as exc:  # too few rows to score a series: close it without scores
                out = StreamScores(session.stream.n_emitted, np.empty(0), np.empty(0, dtype=np.int8))
                notices.append(str(exc))
            try:
                reply, closed = self._emitted(session, out, None, first_row=session.stream.n_rows, batch_rows=0,
                                              final=True)  # fmt: skip
                reply["notices"] = notices + reply["notices"]
                self.store.commit_batch(sid, session.state(), closed, reply, closed=True)
            except BaseException:
                self._rollback(session, before)
                raise
            with self._lock:
                self._sessions.pop(sid, None)
            return reply

    def _emitted(self, session: StreamSession, out: Any, stamps: list[str] | None, *, first_row: int,
                 batch_rows: int, final: bool = False) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:  # fmt: skip
        if session.pending_stamps is not None and stamps is not None:
            session.pending_stamps.extend(stamps)
        k = len(out)
        step_stamps = None
        if session.pending_stamps is not None:
            step_stamps, session.pending_stamps = session.pending_stamps[:k], session.pending_stamps[k:]
        p = calibrated_p_values(out.scores, session.reference, is_sorted=True) if session.reference.size and k else None
        closed = session.tracker.update(out.first_step, out.flags, out.scores, timestamps=step_stamps, p_values=p)
        if final:
            closed += session.tracker.close()
        alerts = []
        for interval in closed:
            alerts.append((session.n_alerts, interval.as_dict()))
            session.n_alerts += 1
        reply: dict[str, Any] = {
            "stream": session.id, "first_row": first_row, "batch_rows": batch_rows, "rows": session.stream.n_rows,
            "first_step": out.first_step, "scores": _floats(out.scores), "flags": [int(f) for f in out.flags],
            "alerts": [a for _, a in alerts], "waiting": session.stream.n_rows - session.stream.n_emitted,
            "notices": [ATTRIBUTION_NOTE] if alerts else [],
        }  # fmt: skip
        if step_stamps is not None:
            reply["timestamps"] = step_stamps
        return reply, alerts

    def _rollback(self, session: StreamSession, before: dict[str, Any]) -> None:
        """Put the in-memory stream back as it was committed (the batch is not acknowledged)."""
        restored = self._session(session.id, session.model, {**before}, session.last_reply)
        session.stream, session.tracker = restored.stream, restored.tracker
        session.pending_stamps, session.n_alerts = restored.pending_stamps, restored.n_alerts

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"open_streams": len(self._sessions), "unrestorable_streams": len(self._broken)}
