"""Which channels? HitRate@100% and HitRate@150% of channel attribution against SMD's interpretation labels.

For each SMD machine the detector is fitted on the machine's train part; each labelled interpretation
segment (``start-end:dims``) is used as the interval, so attribution quality is measured apart from
detection: ``core.attribution.channel_attribution(detector, test, start, end)`` ranks the 38 channels
(ties broken at random), and, as OmniAnomaly defines it, for ground-truth dims G the top ceil(P |G|)
channels give ``hit = |top & G| / |G|``. The table averages hits over all segments (``pooled``) and over
machines (``machines``: the mean of each machine's mean), beside a random ranking's expected value
(``min(ceil(P |G|), C) / C`` per segment). Segments are read as half-open [start, end) test indices (the
loader's convention), so the interval is start..end-1.

Deep detectors run with a wall-time budget (``--budget`` seconds, default 10) and one thread; the table
says which were cut. Results go to a JSON-lines file (one line per detector and machine), so a rerun
skips what is done and ``--table`` prints the table alone.

    nohup .venv/bin/python bench/bench_attribution.py --out runs/attribution > runs/attribution/log.txt 2>&1 &
    .venv/bin/python bench/bench_attribution.py --out runs/attribution --table
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from anomalyforge.core.attribution import channel_attribution  # noqa: E402
from anomalyforge.core.registry import make_detector  # noqa: E402
from anomalyforge.datasets.smd import SMD  # noqa: E402

DETECTORS = ["zscore", "pca", "iforest", "knn", "autoencoder", "m2ad", "carla_knn"]
DEEP = {"autoencoder": "time_budget", "m2ad": "time_budget", "carla_knn": "time_budget"}
PERCENTS = (1.0, 1.5)


def hit_rates(attribution: np.ndarray, dims: list[int], rng: np.random.Generator) -> list[float]:
    """HitRate@P for each P of PERCENTS for one segment (ties in the attribution broken at random)."""
    ranking = np.lexsort((rng.random(attribution.shape[0]), -attribution))
    truth = set(dims)
    return [len(truth & set(ranking[: math.ceil(p * len(dims))].tolist())) / len(dims) for p in PERCENTS]


def random_rates(dims: list[int], n_channels: int) -> list[float]:
    """Expected HitRate@P of a uniformly random ranking: the top m channels hold each true dim with m / C."""
    return [min(math.ceil(p * len(dims)), n_channels) / n_channels for p in PERCENTS]


def run_one(name: str, machine: str, root: str | None, budget: float, seed: int) -> dict:
    data = SMD.load_series(machine, root)
    segments = [(s, e, d) for s, e, d in (data.meta.get("interpretation") or []) if d]
    params = {DEEP[name]: budget} if name in DEEP else {}
    det = make_detector(name, **params)
    t0 = time.perf_counter()
    det.fit(data.train)
    fit_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    hits, rand = [], []
    t0 = time.perf_counter()
    for start, end, dims in segments:
        att = channel_attribution(det, data.test, start, max(start, end - 1))
        hits.append(hit_rates(att, dims, rng))
        rand.append(random_rates(dims, data.test.shape[1]))
    summary = det.training_summary()
    return {
        "detector": name, "machine": machine, "params": params, "n_segments": len(segments),
        "hits": hits, "random": rand, "fit_seconds": round(fit_s, 2),
        "attribution_seconds": round(time.perf_counter() - t0, 2),
        "method": "model" if det.tags.channel_scores else "occlusion",
        "budget_cut": bool(summary["budget_cut"]), "stopped_by": summary["stopped_by"],
    }


def table(rows: list[dict]) -> str:
    by_det: dict[str, list[dict]] = {}
    for row in rows:
        by_det.setdefault(row["detector"], []).append(row)
    head = (f"{'detector':<12} {'method':<10} {'mach':>4} {'segs':>4}  {'HR@100 pooled':>13} {'HR@150 pooled':>13}"
            f"  {'HR@100 mach':>11} {'HR@150 mach':>11}  {'fit s':>6} {'attr s':>6}  budget")
    lines = [head, "-" * len(head)]

    def stats(key: str, group: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        pooled = np.array([h for r in group for h in r[key]])
        machines = np.array([np.mean(r[key], axis=0) for r in group if r[key]])
        return pooled.mean(axis=0), machines.mean(axis=0)

    for name, group in by_det.items():
        pooled, machines = stats("hits", group)
        cut = sum(r["budget_cut"] for r in group)
        note = f"{group[0]['params']} cut {cut}/{len(group)}" if group[0]["params"] else "-"
        lines.append(
            f"{name:<12} {group[0]['method']:<10} {len(group):>4} {sum(r['n_segments'] for r in group):>4}  "
            f"{pooled[0]:>13.3f} {pooled[1]:>13.3f}  {machines[0]:>11.3f} {machines[1]:>11.3f}  "
            f"{sum(r['fit_seconds'] for r in group):>6.0f} {sum(r['attribution_seconds'] for r in group):>6.0f}  {note}"
        )
    full = max(by_det.values(), key=len)
    pooled, machines = stats("random", full)
    lines.append(f"{'random':<12} {'expected':<10} {len(full):>4} {sum(r['n_segments'] for r in full):>4}  "
                 f"{pooled[0]:>13.3f} {pooled[1]:>13.3f}  {machines[0]:>11.3f} {machines[1]:>11.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("ANOMALYFORGE_DATA", "../shared/datasets"))
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--machines", default="", help="comma-separated machine names (default: all)")
    parser.add_argument("--budget", type=float, default=10.0, help="time_budget of the deep detectors, seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tie-breaks")
    parser.add_argument("--out", default="runs/attribution")
    parser.add_argument("--table", action="store_true", help="print the table of the results so far and stop")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.jsonl"
    rows = [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []
    if not args.table:
        machines = [m for m in args.machines.split(",") if m] or SMD.list_series(args.root)
        done = {(r["detector"], r["machine"]) for r in rows}
        for name in [d for d in args.detectors.split(",") if d]:
            for machine in machines:
                if (name, machine) in done:
                    continue
                row = run_one(name, machine, args.root, args.budget, args.seed)
                rows.append(row)
                with store.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                h = np.mean(row["hits"], axis=0) if row["hits"] else [float("nan")] * 2
                print(f"{name:<12} {machine:<12} segs {row['n_segments']:>3}  HR@100 {h[0]:.3f}  HR@150 {h[1]:.3f}  "
                      f"fit {row['fit_seconds']:.0f} s  attribution {row['attribution_seconds']:.0f} s", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
