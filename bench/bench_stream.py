"""Streaming speed of every registered detector: steps per second with chunks of 1 and of 100 rows.

Each detector is fitted on a 2,000-step normal series with 3 channels (its defaults, except that training
time budgets are capped with --budget so the run stays short), then a ``core.stream.Stream`` scores a
fresh series chunk by chunk: for each chunk size the rows are fed for at most --seconds (or --rows rows),
the stream is flushed, and the steps scored per second of wall time are printed beside batch scoring
(``anomaly_score`` on 20,000 steps) and the stream's latency in steps. One thread. The final scores are
also checked against batch scoring of the same rows (largest difference over the largest batch score printed).

    .venv/bin/python bench/bench_stream.py [--budget 5] [--seconds 5] [--rows 20000] [--only a,b]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def series(n: int, channels: int, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 50 + r.uniform(0, 6, (1, channels))) + 0.1 * r.normal(size=(n, channels))


def stream_rate(det, X: np.ndarray, chunk: int, seconds: float) -> tuple[float, int, float]:
    """Steps per second, rows fed and max |stream - batch| / max |batch| for one chunk size."""
    from anomalyforge.core.stream import Stream

    stream = Stream(det)
    parts, fed = [], 0
    t0 = time.perf_counter()
    while fed < len(X) and time.perf_counter() - t0 < seconds:
        parts.append(stream.update(X[fed : fed + chunk]).scores)
        fed += len(X[fed : fed + chunk])
    parts.append(stream.flush().scores)
    elapsed = time.perf_counter() - t0
    scores = np.concatenate(parts)
    batch = det.anomaly_score(X[:fed])
    diff = float(np.abs(scores - batch).max() / max(np.abs(batch).max(), 1e-12))
    return fed / elapsed, fed, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="cap on detectors' training time budgets (s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="streaming time per detector and chunk size")
    parser.add_argument("--rows", type=int, default=20_000, help="at most this many rows per chunk size")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--only", help="comma-separated detector names")
    args = parser.parse_args()
    import torch

    from anomalyforge.core.registry import list_detectors, make_detector
    from anomalyforge.core.stream import Stream

    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else list(list_detectors())
    train, test = series(2000, args.channels, 1), series(args.rows, args.channels, 2)
    print(f"fit on 2000 x {args.channels} (training budgets capped at {args.budget:.0f} s), stream up to "
          f"{args.rows} rows or {args.seconds:.0f} s per chunk size, 1 thread")  # fmt: skip
    header = f"{'detector':<18}{'latency':>8}{'chunk 1 /s':>12}{'chunk 100 /s':>14}{'batch /s':>11}{'rel. diff':>12}"
    print(header)
    for name in names:
        det = make_detector(name)
        params = det.get_params()
        caps = {k: args.budget for k in ("time_budget", "mae_time_budget") if k in params}
        if "generator_budget" in params:
            caps["generator_budget"] = 0.4
        det.set_params(**caps)
        det.fit(train)
        try:
            latency = Stream(det).latency
        except NotImplementedError as exc:
            print(f"{name:<18} cannot stream: {str(exc).split(': ', 1)[1][:90]}...", flush=True)
            continue
        t0 = time.perf_counter()
        det.anomaly_score(test)
        batch_rate = len(test) / (time.perf_counter() - t0)
        rate1, _, diff1 = stream_rate(det, test, 1, args.seconds)
        rate100, _, diff100 = stream_rate(det, test, 100, args.seconds)
        print(f"{name:<18}{latency:>8}{rate1:>12.0f}{rate100:>14.0f}{batch_rate:>11.0f}{max(diff1, diff100):>12.1e}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
