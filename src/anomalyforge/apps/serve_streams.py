"""Streams of ``anomalyforge serve``: durable ``core.stream.Stream`` + ``core.intervals.IntervalTracker`` pairs.

``StreamManager`` keeps the open streams in memory and commits each one's state to ``serve_store.StreamStore``
before a row batch is acknowledged; at start it restores the open streams of the database (a stream whose
model file changed since it was opened, or whose model is now refused, answers 409 saying so).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anomalyforge.apps.serve_models import ATTRIBUTION_NOTE, ApiError, LoadedModel, ModelCatalog, floats
from anomalyforge.apps.serve_store import StreamStore
from anomalyforge.core.intervals import IntervalTracker, calibrated_p_values
from anomalyforge.core.stream import Stream, StreamScores

__all__ = ["StreamManager", "StreamSession"]

_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


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

    def _session(
        self, sid: str, model: LoadedModel, state: dict[str, Any], last: dict[str, Any] | None
    ) -> StreamSession:
        stream = Stream.from_state(model.detector, state["stream"])
        tracker = IntervalTracker.from_state(state["tracker"])
        return StreamSession(sid, model, stream, tracker, self._reference(model), json.loads(state["pending_stamps"]),
                             int(state["n_alerts"]), last)  # fmt: skip

    @staticmethod
    def _reference(model: LoadedModel) -> np.ndarray:
        return np.sort(model.detector.threshold_reference())

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

    def _emitted(
        self, session: StreamSession, out: Any, stamps: list[str] | None, *, first_row: int, batch_rows: int,
        final: bool = False,
    ) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:  # fmt: skip
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
            "first_step": out.first_step, "scores": floats(out.scores), "flags": [int(f) for f in out.flags],
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
