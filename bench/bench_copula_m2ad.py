"""Speed and quality of the copula and M2AD detectors beside the isolation forest, on a few quick-suite series.

Prints, per series and detector: fit and score seconds, VUS-PR (headline, TSB-AD sliding window = the period
estimated from the test series), AUPR and best-F1 (an ORACLE metric: its threshold is chosen with the test
labels), from ``anomalyforge.metrics.evaluate``. Training uses only the training part (GECCO: the loader's
first half / second half split). Runs with one torch thread and prints the machine load before and after,
since the CPU may be shared.

The copula's negatives come from GenIAS (``--generator genias``, fitted on the training series with
``--genias-budget`` seconds) or any registered generator name; its fit loop has ``--budget`` seconds, as has
M2AD's. Long series (GECCO) are scored every ``--long-stride`` windows by the copula.

    .venv/bin/python bench/bench_copula_m2ad.py
    .venv/bin/python bench/bench_copula_m2ad.py --series MSL/C-1 --detectors copula --generator rules
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from anomalyforge.core.registry import make_detector, make_generator  # noqa: E402
from anomalyforge.datasets import list_series, load_series  # noqa: E402
from anomalyforge.metrics import estimate_sliding_window, evaluate  # noqa: E402

SERIES = ("SMD/machine-1-2", "SMD/machine-1-3", "MSL/C-1", "MSL/C-2", "GECCO/gecco2018_water_quality")
DETECTORS = ("iforest", "copula", "m2ad")


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def build(name: str, args: argparse.Namespace, n_test: int):
    long = n_test > 50_000
    if name == "copula":
        gen = args.generator
        if gen == "genias":
            gen = make_generator("genias", time_budget=args.genias_budget, random_state=0)
        return make_detector(
            "copula", generator=gen, time_budget=args.budget, score_stride=args.long_stride if long else 1
        )
    if name == "m2ad":
        return make_detector("m2ad", time_budget=args.budget)
    return make_detector(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=list(SERIES))
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS))
    parser.add_argument("--generator", default="genias")
    parser.add_argument("--genias-budget", type=float, default=30.0)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--long-stride", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"start: {load()}; torch threads {torch.get_num_threads()}")
    print(f"{'series':<32} {'detector':<8} {'fit s':>7} {'score s':>8} {'VUS-PR':>7} {'AUPR':>6} {'bestF1':>6}  notes")
    available = {d: set(list_series(d)) for d in {s.split("/", 1)[0] for s in args.series}}
    for spec in args.series:
        dataset, name = spec.split("/", 1)
        if spec not in available[dataset]:
            print(f"{spec}: not found, skipped")
            continue
        data = load_series(dataset, name)
        window = estimate_sliding_window(data.test)
        for det_name in args.detectors:
            det = build(det_name, args, len(data.test))
            t0 = time.perf_counter()
            det.fit(data.train)
            fit_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            scores = det.anomaly_score(data.test)
            score_s = time.perf_counter() - t1
            m = evaluate(data.labels, scores, sliding_window=window)
            notes = ""
            if hasattr(det, "train_report_"):
                r = det.train_report_
                notes = f"{r['epochs_run']} epochs, {r['stopped_by']}"
            if det_name == "m2ad":
                flagged = float(np.mean(det.p_values(data.test) < det.p_value))
                notes += f"; flagged at p<{det.p_value}: {flagged:.4f} (labels {data.labels.mean():.4f})"
            print(
                f"{spec:<32} {det_name:<8} {fit_s:7.1f} {score_s:8.1f} {m['vus_pr']:7.3f} {m['aupr']:6.3f} "
                f"{m['best_f1']:6.3f}  {notes}",
                flush=True,
            )
        print(f"  {spec}: train {data.train.shape}, test {data.test.shape}, VUS window {window}; {load()}", flush=True)
    print(f"end: {load()}")
    print("best-F1 is an oracle (threshold chosen on the test labels); VUS-PR is the headline.")


if __name__ == "__main__":
    main()
