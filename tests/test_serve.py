"""anomalyforge serve over real HTTP: a server process per scenario, loopback only, bounded requests.

One server (module fixture) answers the API and bad-input tests; the kill test runs its own, kills it with
SIGKILL in the middle of a stream, starts it again on the same state folder and checks that no acknowledged
row is lost and the scores equal batch scoring.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from anomalyforge.core.intervals import flag_intervals  # noqa: E402
from anomalyforge.core.persistence import load_model, sign_model  # noqa: E402

from .conftest import REPO, make_series  # noqa: E402

KEY = "test-model-key-0123456789abcdef"
TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHANNELS = ["a", "b", "c"]
STARTUP_TIMEOUT = 90.0  # seconds; a loaded 2-core machine imports the stack slowly


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real ``anomalyforge serve`` process on a free loopback port."""

    def __init__(self, models: Path, state: Path, *extra: str, max_body_mb: float = 0.25) -> None:
        self.models, self.state, self.extra, self.max_body_mb = models, state, extra, max_body_mb
        self.proc: subprocess.Popen | None = None
        self.log = state.parent / f"{state.name}.log"

    def start(self) -> Server:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ANOMALYFORGE_TOKEN": TOKEN, "ANOMALYFORGE_MODEL_KEY": KEY,
               "ANOMALYFORGE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
        cmd = [sys.executable, "-m", "anomalyforge.cli", "serve", "--models", str(self.models), "--state",
               str(self.state), "--port", str(self.port), "--max-body-mb", str(self.max_body_mb),
               "--log-level", "warning", *self.extra]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {STARTUP_TIMEOUT} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A models folder (a signed pca model and refused ones), the data, the fitted detector."""
    import anomalyforge.core.persistence as persistence
    from anomalyforge.apps.fitscore import fit_model

    root = tmp_path_factory.mktemp("serve")
    models = root / "models"
    X = make_series(500, 3, seed=3)
    pd.DataFrame(X[:300], columns=CHANNELS).to_csv(root / "train.csv", index=False)
    result = fit_model(root / "train.csv", "pca", models / "pca.safetensors", params={"window": 16},
                       key=KEY.encode())  # fmt: skip
    fit_model(root / "train.csv", "pca", models / "unsigned.safetensors", params={"window": 16})
    fit_model(root / "train.csv", "pca", models / "otherkey.safetensors", params={"window": 16},
              key=b"another-key-0123456789abcdef")  # fmt: skip
    forged = fit_model(root / "train.csv", "pca", models / "forged.safetensors", params={"window": 16}).model_path
    sign_model(forged, KEY.encode())
    _edit_and_rehash(forged, persistence)
    outside = root / "outside.safetensors"
    outside.write_bytes((models / "pca.safetensors").read_bytes())
    (models / "escape.safetensors").symlink_to(outside)
    test = X[300:].copy()
    test[120:126, 1] += 5.0  # a planted anomaly
    return {"root": root, "models": models, "detector": result.model, "test": test}


def _edit_and_rehash(path: Path, persistence) -> None:
    """What a forger does: change the configuration and recompute the unkeyed digest."""
    import struct

    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    config = json.loads(header["__metadata__"]["anomalyforge"])
    config["metadata"]["training_rows"] = 1
    edited = json.dumps(config, sort_keys=True)
    with persistence.safe_open(str(path), framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    header["__metadata__"]["anomalyforge"] = edited
    header["__metadata__"]["sha256"] = persistence._digest(edited, tensors)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + size :])
    load_model(path)  # the unkeyed digest now passes


@pytest.fixture(scope="module")
def server(site):
    srv = Server(site["models"], site["root"] / "state")
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _csv(rows: np.ndarray, columns=CHANNELS) -> bytes:
    return pd.DataFrame(rows, columns=columns).to_csv(index=False).encode()


# --------------------------------------------------------------------------------------------- API
def test_health_needs_no_token_and_everything_else_does(client):
    assert client.get("/health").json() == {"status": "ok"}
    for method, path in [("GET", "/models"), ("POST", "/models/pca/score"), ("POST", "/streams"),
                         ("GET", "/openapi.json"), ("GET", "/docs"), ("DELETE", "/streams/abcdefghij")]:  # fmt: skip
        r = client.request(method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert "bearer token" in r.json()["error"]
    schema = client.get("/openapi.json", headers=AUTH).json()
    paths = {"/health", "/models", "/models/{name}/score", "/streams", "/streams/{stream_id}/rows"}
    assert paths <= set(schema["paths"])
    assert "swagger" in client.get("/docs", headers=AUTH).text.lower()


def test_models_lists_signed_models_and_says_why_others_are_refused(client, site):
    models = {m["name"]: m for m in client.get("/models", headers=AUTH).json()["models"]}
    pca = models["pca"]
    det = site["detector"]
    assert pca["detector"] == "pca" and pca["channel_names"] == CHANNELS and pca["channels"] == 3
    assert pca["training_rows"] == 300 and pca["threshold"] == pytest.approx(float(det.threshold_))
    assert pca["package_version"] == "0.1.0"
    assert "is not signed" in models["unsigned"]["error"]
    assert "signed with another key" in models["otherkey"]["error"]
    assert "modified after it was signed" in models["forged"]["error"]
    assert "outside the models folder" in models["escape"]["error"]
    r = client.post("/models/forged/score", headers={**AUTH, "Content-Type": "text/csv"}, content=_csv(site["test"]))
    assert r.status_code == 422 and "modified after it was signed" in r.json()["error"]


def test_batch_score_csv_and_json_equal_library_scoring(client, site):
    det, X = site["detector"], site["test"]
    expected = det.anomaly_score(X)
    r = client.post("/models/pca/score", headers={**AUTH, "Content-Type": "text/csv"}, content=_csv(X))
    assert r.status_code == 200, r.text
    out = r.json()
    np.testing.assert_allclose(out["scores"], expected, rtol=0, atol=1e-12)
    assert out["flags"] == [int(s > det.threshold_) for s in expected]
    batch = flag_intervals(np.array(out["flags"]), expected)
    assert [(iv["start"], iv["end"]) for iv in out["intervals"]] == [(iv.start, iv.end) for iv in batch]
    planted = [iv for iv in out["intervals"] if iv["start"] <= 123 <= iv["end"]]
    assert planted and planted[0]["top_channels"][0] == "b"  # the planted anomaly is an alert, blamed on b
    # JSON with the columns in another order: reordered by name, same scores
    body = {"columns": ["c", "a", "b"], "rows": X[:, [2, 0, 1]].tolist()}
    r = client.post("/models/pca/score", headers=AUTH, json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["scores"], expected, rtol=0, atol=1e-12)
    assert any("another order" in n for n in r.json()["notices"])


def test_stream_over_http_equals_batch_and_keeps_alerts(client, site):
    det, X = site["detector"], site["test"]
    sid = client.post("/streams", headers=AUTH, json={"model": "pca", "max_gap": 2}).json()["id"]
    scores, i, sizes = [], 0, [1, 3, 7, 20, 2, 40]
    for k in range(100):
        if i >= len(X):
            break
        n = sizes[k % len(sizes)]
        r = client.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": X[i : i + n].tolist(), "first_row": i})
        assert r.status_code == 200, r.text
        assert r.json()["first_step"] == len(scores)
        scores += r.json()["scores"]
        i += n
    again = client.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": X[i - n : i].tolist(), "first_row": i - n})
    assert again.json()["replayed"] is True  # the last batch sent again: same reply, not counted twice
    assert client.get(f"/streams/{sid}", headers=AUTH).json()["rows"] == len(X)
    final = client.delete(f"/streams/{sid}", headers=AUTH).json()
    scores += final["scores"]
    expected = det.anomaly_score(X)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9)
    alerts = client.get(f"/streams/{sid}/alerts", headers=AUTH).json()["alerts"]
    batch = flag_intervals((expected > det.threshold_).astype(int), expected, max_gap=2)
    assert [(a["start"], a["end"]) for a in alerts] == [(b.start, b.end) for b in batch]
    assert client.delete(f"/streams/{sid}", headers=AUTH).json()["replayed"] is True
    r = client.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": [[0, 0, 0]]})
    assert r.status_code == 409 and "closed" in r.json()["error"]


# ------------------------------------------------------------------------------------------ bad input
BIG = b"a,b,c\n" + b"0.1,0.2,0.3\n" * 30000  # ~360 kB, over the test server's 0.25 MB limit
J = {**AUTH, "Content-Type": "application/json"}
BAD_INPUTS = [
    # case, method, path, headers, body, status, words in the error
    ("malformed JSON", "POST", "/models/pca/score", J, b'{"rows": [[1, 2, 3]', 400, "malformed JSON"),
    ("wrong channel count", "POST", "/models/pca/score", J, b'{"rows": [[1, 2]]}', 422, "has 2 values"),
    ("NaN", "POST", "/models/pca/score", J, b'{"rows": [[1, NaN, 3]]}', 422, "finite number"),
    ("inf", "POST", "/models/pca/score", J, b'{"rows": [[1, Infinity, 3]]}', 422, "finite number"),
    ("huge number (1e999)", "POST", "/models/pca/score", J, b'{"rows": [[1, 1e999, 3]]}', 422, "finite number"),
    ("text in numbers (JSON)", "POST", "/models/pca/score", J, b'{"rows": [[1, "x", 3]]}', 422, "valid number"),
    ("text in numbers (CSV)", "POST", "/models/pca/score", {**AUTH, "Content-Type": "text/csv"},
     b"a,b,c\n1,abc,3\n", 422, "'abc' is not a number"),
    ("NaN in CSV", "POST", "/models/pca/score", {**AUTH, "Content-Type": "text/csv"}, b"a,b,c\n1,nan,3\n", 422,
     "empty (a missing value)"),
    ("missing CSV column", "POST", "/models/pca/score", {**AUTH, "Content-Type": "text/csv"}, b"a,b\n1,2\n", 422,
     "missing column(s) 'c'"),
    ("too few rows to score", "POST", "/models/pca/score", J, b'{"rows": [[1, 2, 3]]}', 422, "fewer than the 16"),
    ("empty body", "POST", "/models/pca/score", J, b"", 422, "body is empty"),
    ("unknown field", "POST", "/models/pca/score", J, b'{"rows": [[1,2,3]], "rwos": 1}', 422, "rwos"),
    ("wrong content type", "POST", "/models/pca/score", {**AUTH, "Content-Type": "text/plain"}, b"1,2,3", 415,
     "text/plain"),
    ("body over the limit", "POST", "/models/pca/score", {**AUTH, "Content-Type": "text/csv"}, BIG, 413,
     "larger than the limit"),
    ("unknown model", "POST", "/models/nosuch/score", J, b'{"rows": [[1, 2, 3]]}', 404, "no model 'nosuch'"),
    ("missing token", "POST", "/models/pca/score", {"Content-Type": "application/json"}, b'{"rows": [[1,2,3]]}',
     401, "missing bearer token"),
    ("wrong token", "GET", "/models", {"Authorization": "Bearer not-the-token-at-all"}, b"", 401, "wrong bearer"),
    ("path-escaping name ..", "POST", "/models/%2E%2E/score", J, b'{"rows": [[1,2,3]]}', 400, "not allowed"),
    ("path-escaping name ../..", "POST", "/models/..%2F..%2Fetc%2Fpasswd/score", J, b'{"rows": [[1,2,3]]}', 404,
     "no endpoint"),
    ("hidden-file name", "POST", "/models/.pca/score", J, b'{"rows": [[1,2,3]]}', 400, "not allowed"),
    ("symlink out of the folder", "POST", "/models/escape/score", J, b'{"rows": [[1,2,3]]}', 400,
     "outside the models folder"),
    ("unknown stream", "POST", "/streams/AAAAAAAAAAAAAAAA/rows", J, b'{"rows": [[1,2,3]]}', 404, "no stream"),
    ("stream on unknown model", "POST", "/streams", J, b'{"model": "nosuch"}', 404, "no model"),
    ("negative max_gap", "POST", "/models/pca/score?max_gap=-1", J, b'{"rows": [[1,2,3]]}', 422, "max_gap"),
]


@pytest.mark.parametrize("case,method,path,headers,body,status,words", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_json_error_naming_the_problem(client, case, method, path, headers, body, status, words):
    r = client.request(method, path, headers=headers, content=body)
    assert r.status_code == status, r.text
    error = r.json()
    print(f"\nBAD-INPUT | {case} | {r.status_code} | {error['error']}")  # the table of the report (pytest -s)
    assert error["status"] == status and words in error["error"], error
    assert client.get("/health").status_code == 200  # and the server keeps serving


def test_stream_rejects_duplicates_gaps_and_short_closes(client):
    sid = client.post("/streams", headers=AUTH, json={"model": "pca"}).json()["id"]
    ok = client.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": [[0.0, 0.1, 0.2]] * 3, "first_row": 0})
    assert ok.status_code == 200
    gap = client.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": [[0.0, 0.1, 0.2]], "first_row": 7})
    assert gap.status_code == 409 and "send rows from row 3" in gap.json()["error"]
    nan = client.post(f"/streams/{sid}/rows", headers=J, content=b'{"rows": [[NaN, 0, 0]], "first_row": 3}')
    assert nan.status_code == 422 and "finite number" in nan.json()["error"]
    assert client.get(f"/streams/{sid}", headers=AUTH).json()["rows"] == 3  # a refused batch changes nothing
    closed = client.delete(f"/streams/{sid}", headers=AUTH).json()
    assert closed["scores"] == [] and "fewer than the 16" in closed["notices"][0]  # 3 rows cannot be scored


# ------------------------------------------------------------------------------------- start-up refusals
def test_serve_refuses_unsafe_configurations(tmp_path, monkeypatch, capsys):
    from anomalyforge.cli import main

    (tmp_path / "models").mkdir()
    base = ["serve", "--models", str(tmp_path / "models"), "--state", str(tmp_path / "state")]
    monkeypatch.delenv("ANOMALYFORGE_TOKEN", raising=False)
    monkeypatch.delenv("ANOMALYFORGE_MODEL_KEY", raising=False)
    assert main(base) == 2
    assert "loads only signed models" in capsys.readouterr().err
    monkeypatch.setenv("ANOMALYFORGE_MODEL_KEY", KEY)
    assert main([*base, "--host", "0.0.0.0"]) == 2
    assert "not a loopback address) without a token" in capsys.readouterr().err
    monkeypatch.setenv("ANOMALYFORGE_TOKEN", "short")
    assert main(base) == 2
    assert "at least 16" in capsys.readouterr().err


def test_sign_command_makes_a_model_servable(tmp_path, site, monkeypatch, capsys):
    from anomalyforge.cli import main

    path = tmp_path / "m.safetensors"
    path.write_bytes((site["models"] / "unsigned.safetensors").read_bytes())
    monkeypatch.setenv("ANOMALYFORGE_MODEL_KEY", KEY)
    assert main(["sign", str(path)]) == 0 and "key id" in capsys.readouterr().out
    assert load_model(path, key=KEY.encode()).registry_name == "pca"


# ----------------------------------------------------------------------------------- kill and restart
def test_sigkill_mid_stream_loses_no_acknowledged_row(site, server):
    """Rows are sent by a client thread; the server is killed with SIGKILL while it streams, started again
    on the same state folder, and the client resumes from the rows the server says it acknowledged.

    Last in the file: it kills the module's server (and leaves a restarted one for the fixture to stop), which
    saves a server start-up on a loaded machine."""
    det = site["detector"]
    X = np.concatenate([site["test"], make_series(300, 3, seed=9)])
    srv = server
    replies: list[dict] = []  # acknowledged replies, in order
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        sid = c.post("/streams", headers=AUTH, json={"model": "pca", "max_gap": 1}).json()["id"]

    def send_until_killed() -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            i = 0
            while i < len(X):
                try:
                    r = c.post(f"/streams/{sid}/rows", headers=AUTH,
                               json={"rows": X[i : i + 9].tolist(), "first_row": i})  # fmt: skip
                except httpx.TransportError:
                    return  # the server died under this request: it is not acknowledged
                assert r.status_code == 200, r.text
                replies.append(r.json())
                i += 9

    sender = threading.Thread(target=send_until_killed)
    sender.start()
    deadline = time.monotonic() + 60
    while len(replies) < 20 and sender.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    srv.kill()
    sender.join(timeout=30)
    acked = replies[-1]["rows"]
    assert 0 < acked < len(X), "the server must die in the middle of the stream"
    srv.start()  # same state folder, new port
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        status = c.get(f"/streams/{sid}", headers=AUTH).json()
        assert status["status"] == "open" and status["rows"] >= acked  # nothing acknowledged is lost
        i = acked  # resume after the last reply we got (the server may also have the next batch)
        while i < len(X):
            r = c.post(f"/streams/{sid}/rows", headers=AUTH, json={"rows": X[i : i + 9].tolist(), "first_row": i})
            assert r.status_code == 200, r.text
            replies.append(r.json())
            if i == acked:
                print(f"killed after {acked} acknowledged rows; restored stream had {status['rows']}; "
                      f"resent batch replayed={r.json().get('replayed', False)}")  # fmt: skip
            i += 9
        replies.append(c.delete(f"/streams/{sid}", headers=AUTH).json())
        alerts = c.get(f"/streams/{sid}/alerts", headers=AUTH).json()["alerts"]
    scores: list[float] = []
    for reply in replies:
        assert reply["first_step"] == len(scores)  # every step exactly once, in order
        scores += reply["scores"]
    expected = det.anomaly_score(X)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9)  # as if never interrupted
    batch = flag_intervals((expected > det.threshold_).astype(int), expected, max_gap=1)
    assert [(a["start"], a["end"]) for a in alerts] == [(b.start, b.end) for b in batch]
