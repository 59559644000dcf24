"""Load on ``anomalyforge serve``: concurrent clients on a loopback server, throughput and latency.

    python bench/bench_serve.py [--clients 16] [--requests 200] [--rows 64]

Starts a server with a signed pca model on a free loopback port, runs ``--clients`` threads that each send
``--requests`` requests (bounded; it stops by itself), and prints requests/s, p50 and p99 latency and the
error count. Each client alternates batch scoring (``--rows`` rows, JSON) and appending a few rows to its own
stream (each append is committed to SQLite before the reply), so both paths are measured.
"""

from __future__ import annotations

import argparse
import threading
import time

import httpx
import numpy as np
from serve_launch import running_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--rows", type=int, default=64, help="rows per batch-score request")
    parser.add_argument("--stream-rows", type=int, default=4, help="rows per stream append")
    args = parser.parse_args()

    with running_server() as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        batch = {"rows": srv.rows[: args.rows].tolist()}
        latencies: dict[str, list[float]] = {"score": [], "append": []}
        errors: list[str] = []
        lock = threading.Lock()

        def client(i: int) -> None:
            with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as c:
                sid = c.post("/streams", json={"model": "pca"}).json()["id"]
                at = 0
                for k in range(args.requests):
                    kind = "score" if k % 2 == 0 else "append"
                    t0 = time.perf_counter()
                    try:
                        if kind == "score":
                            r = c.post("/models/pca/score", json=batch)
                        else:
                            rows = srv.rows[at % 150 : at % 150 + args.stream_rows].tolist()
                            r = c.post(f"/streams/{sid}/rows", json={"rows": rows, "first_row": at})
                            at += args.stream_rows
                        ok = r.status_code == 200
                        detail = f"{r.status_code} {r.text[:120]}"
                    except httpx.HTTPError as exc:
                        ok, detail = False, repr(exc)
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies[kind].append(dt)
                        if not ok:
                            errors.append(detail)
                c.delete(f"/streams/{sid}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        total = sum(len(v) for v in latencies.values())
        print(f"{args.clients} clients x {args.requests} requests = {total} in {wall:.1f} s: "
              f"{total / wall:.1f} requests/s, errors {len(errors)}")  # fmt: skip
        for kind, values in [("all", latencies["score"] + latencies["append"]), *latencies.items()]:
            ms = np.array(values) * 1000
            p50, p99 = np.percentile(ms, [50, 99])
            print(f"  {kind:<7} n={len(ms):>5}  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  max {ms.max():8.1f} ms")
        for e in errors[:5]:
            print("  error:", e)


if __name__ == "__main__":
    main()
