"""A throw-away ``anomalyforge serve`` for the bench scripts: a signed pca model, a free loopback port.

Used by ``bench_serve.py`` and ``fuzz_serve.py``; the server is always stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ["a", "b", "c"]


@dataclass
class Running:
    url: str
    token: str
    folder: Path
    rows: np.ndarray  # rows to score (in the fitted channel order)


def series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 25 + rng.uniform(0, 6, (1, 3))) + 0.05 * rng.normal(size=(n, 3))


@contextlib.contextmanager
def running_server(*extra: str, window: int = 16, timeout: float = 120.0) -> Iterator[Running]:
    sys.path.insert(0, str(REPO / "src"))
    from anomalyforge.apps.fitscore import fit_model

    token, key = secrets.token_urlsafe(24), secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="af-serve-") as tmp:
        folder = Path(tmp)
        pd.DataFrame(series(400, 0), columns=CHANNELS).to_csv(folder / "train.csv", index=False)
        fit_model(folder / "train.csv", "pca", folder / "models" / "pca.safetensors", params={"window": window},
                  key=key.encode())  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "ANOMALYFORGE_TOKEN": token, "ANOMALYFORGE_MODEL_KEY": key, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(REPO / "src")}  # fmt: skip
        log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "anomalyforge.cli", "serve", "--models", str(folder / "models"), "--state",
             str(folder / "state"), "--port", str(port), "--log-level", "warning", *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            import httpx

            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError((folder / "server.log").read_text())
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no /health within {timeout} s")
                time.sleep(0.2)
            yield Running(url, token, folder, series(200, 1))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
