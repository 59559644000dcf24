"""Durable stream state for ``anomalyforge serve``: one SQLite database in WAL mode, committed before replying.

Each open stream is one row of ``streams``: the model it scores with (name and the model file's digest), the
alert rule, the ``core.stream.Stream`` state (counters and the retained context, about one window of rows:
``Stream.state_dict``) as a numpy ``.npz`` blob read back with ``allow_pickle=False``, the alert tracker's
state, the timestamps of rows not scored yet, and the reply to the last row batch (so that a client that
lost a reply can send the batch again and get the same answer instead of a second copy of its rows). Closed
alerts are rows of ``alerts``. A row batch is one transaction: the new state and the alerts it closed are
committed (``synchronous=FULL``: on disk, not only in the OS cache) before the service answers, so an
acknowledged row survives a crash, a ``kill -9`` or a power cut.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["StreamRecord", "StreamStore", "encode_stream_state", "decode_stream_state"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    model_digest TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,              -- open | closed
    stream_arrays BLOB,                -- npz of the Stream state's arrays
    stream_scalars TEXT,               -- JSON: the rest of Stream.state_dict, tracker state, pending timestamps
    last_reply TEXT                    -- JSON reply to the last row batch (or the closing reply)
);
CREATE TABLE IF NOT EXISTS alerts (
    stream_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
"""


def encode_stream_state(state: dict[str, Any]) -> tuple[bytes, str]:
    """``Stream.state_dict()`` (plus JSON-able extras) -> (npz bytes of its arrays, JSON of everything else)."""
    arrays: dict[str, np.ndarray] = {}

    def split(value: Any, path: str) -> Any:
        if isinstance(value, np.ndarray):
            arrays[path] = value
            return {"__array__": path}
        if isinstance(value, dict):
            return {k: split(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, np.generic):
            return value.item()
        return value

    scalars = split(state, "s")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue(), json.dumps(scalars)


def decode_stream_state(blob: bytes, scalars_json: str) -> dict[str, Any]:
    """The inverse of ``encode_stream_state`` (no pickle: object arrays are refused)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}

    def join(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"__array__"}:
                return arrays[value["__array__"]]
            return {k: join(v) for k, v in value.items()}
        return value

    return join(json.loads(scalars_json))


@dataclass
class StreamRecord:
    """One stored stream."""

    id: str
    model: str
    model_digest: str
    created: float
    status: str
    state: dict[str, Any] | None
    last_reply: dict[str, Any] | None


class StreamStore:
    """The SQLite database under ``folder`` (``streams.sqlite``), one connection shared under a lock.

    Args:
        folder: where the database lives (created if missing).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "streams.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode}); put --state on a local disk")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, stream_id: str, model: str, model_digest: str, state: dict[str, Any]) -> None:
        blob, scalars = encode_stream_state(state)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO streams (id, model, model_digest, created, status, stream_arrays, stream_scalars, "
                "last_reply) VALUES (?, ?, ?, ?, 'open', ?, ?, NULL)",
                (stream_id, model, model_digest, time.time(), blob, scalars),
            )

    def commit_batch(
        self, stream_id: str, state: dict[str, Any], alerts: list[tuple[int, dict[str, Any]]], reply: dict[str, Any],
        *, closed: bool = False,
    ) -> None:  # fmt: skip
        """Store a stream's new state, the alerts that closed (``(seq, alert)``) and the reply, atomically."""
        blob, scalars = (None, None) if closed else encode_stream_state(state)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO alerts (stream_id, seq, alert) VALUES (?, ?, ?)",
                [(stream_id, seq, json.dumps(a)) for seq, a in alerts],
            )
            cur = self._db.execute(
                "UPDATE streams SET status = ?, stream_arrays = ?, stream_scalars = ?, last_reply = ? "
                "WHERE id = ? AND status = 'open'",
                ("closed" if closed else "open", blob, scalars, json.dumps(reply), stream_id),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"stream {stream_id} is not open in the state database")

    def get(self, stream_id: str) -> StreamRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, model, model_digest, created, status, stream_arrays, stream_scalars, last_reply "
                "FROM streams WHERE id = ?",
                (stream_id,),
            ).fetchone()
        return None if row is None else self._record(row)

    def open_streams(self) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, model, model_digest, created, status, stream_arrays, stream_scalars, last_reply "
                "FROM streams WHERE status = 'open' ORDER BY created"
            ).fetchall()
        return [self._record(r) for r in rows]

    def alerts(self, stream_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT alert FROM alerts WHERE stream_id = ? ORDER BY seq", (stream_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def _record(row: tuple[Any, ...]) -> StreamRecord:
        sid, model, digest, created, status, blob, scalars, reply = row
        state = decode_stream_state(blob, scalars) if blob is not None else None
        return StreamRecord(sid, model, digest, created, status, state, None if reply is None else json.loads(reply))
