"""Speed and quality of the flow detectors (realnvp, maf) and the autoencoder on a few quick-suite series.

Prints, per series and detector: fit and score seconds, epochs run and why training stopped, VUS-PR
(headline), AUPR and best-F1 (an ORACLE metric: its threshold is chosen with the test labels) on the test
part. Training uses only the training part. Runs with one torch thread (ANOMALYFORGE_NUM_THREADS) and
reports the machine load, since the CPU may be shared.

    .venv/bin/python bench/bench_flows.py                       # SMD machine-1-2, MSL C-1, UCR 011
    .venv/bin/python bench/bench_flows.py --series MSL/C-1 --detectors maf --time-budget 30
    .venv/bin/python bench/bench_flows.py --generators            # also ARP/EDI of flow vs genias vs rules
    .venv/bin/python bench/bench_flows.py --skip-detectors --long 100000   # default models, 100k x 38 steps
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from anomalyforge.core.registry import make_detector
from anomalyforge.datasets import list_series, load_series
from anomalyforge.metrics import aupr, best_f1, vus_pr

SERIES = ("SMD/machine-1-2", "MSL/C-1", "UCR/011")
WINDOWS = {"SMD": 10, "MSL": 10, "UCR": 64}


def resolve(spec: str) -> tuple[str, str]:
    """``"UCR/011"`` -> ("UCR", full series name); other names pass through."""
    dataset, name = spec.split("/", 1)
    if dataset == "UCR" and name.isdigit():
        name = next(s.split("/", 1)[1] for s in list_series("UCR") if s.split("/", 1)[1].startswith(f"{name}_"))
    return dataset, name


def run_detectors(series: list[str], detectors: list[str], time_budget: float, max_train_windows: int) -> None:
    print(
        f"{'series':<16} {'detector':<12} {'fit s':>7} {'score s':>8} {'epochs':>7} {'stopped':<12} "
        f"{'VUS-PR':>7} {'AUPR':>7} {'bestF1':>7}"
    )
    for spec in series:
        dataset, name = resolve(spec)
        data = load_series(dataset, name)
        window = WINDOWS.get(dataset, 10)
        for det_name in detectors:
            params = {"window": window, "max_train_windows": max_train_windows, "time_budget": time_budget}
            det = make_detector(det_name, **params)
            t0 = time.perf_counter()
            det.fit(data.train)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = det.anomaly_score(data.test)
            score_s = time.perf_counter() - t0
            report = det.train_report_
            print(
                f"{spec:<16} {det_name:<12} {fit_s:7.1f} {score_s:8.2f} {report['epochs_run']:>7} "
                f"{report['stopped_by']:<12} {vus_pr(data.labels, scores):7.3f} {aupr(data.labels, scores):7.3f} "
                f"{best_f1(data.labels, scores).f1:7.3f}",
                flush=True,
            )


def run_generators(window: int, n: int, time_budget: float) -> None:
    from anomalyforge.apps.generate import compare_generators

    params = {
        "flow": {"time_budget": time_budget},
        "genias": {"time_budget": time_budget} if _accepts("genias", "time_budget") else {},
    }
    t0 = time.perf_counter()
    rows = compare_generators(["flow", "genias", "rules"], "MSL", "C-1", window=window, n=n, params=params)
    print(f"\nARP / EDI on MSL C-1 (window {window}, {n} anomalies each; {time.perf_counter() - t0:.0f} s)")
    print(f"{'generator':<18} {'ARP':>7} {'EDI':>7} {'EDI/logK':>9} {'fit s':>7} {'gen s':>7}")
    for r in rows:
        print(
            f"{r['generator']:<18} {r['arp']:7.4f} {r['edi']:7.3f} {r['edi_norm']:9.3f} "
            f"{r['fit_seconds']:7.1f} {r['generate_seconds']:7.1f}"
        )


def run_long(n: int, channels: int, detectors: list[str]) -> None:
    """Default-size models scoring an n-step series: seconds and peak numpy memory (tracemalloc)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = np.sin(np.arange(n) / 20)[:, None] + 0.1 * rng.normal(size=(n, channels))
    print(
        f"\nlong series: {n} steps x {channels} channels (all windows as float64: {n * 10 * channels * 8 / 1e6:.0f} MB)"
    )
    for det_name in detectors:
        det = make_detector(det_name, epochs=1, max_train_windows=2000).fit(X[:5000])
        tracemalloc.start()
        t0 = time.perf_counter()
        scores = det.anomaly_score(X)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert scores.shape == (n,) and np.isfinite(scores).all()
        print(f"{det_name:<12} score {seconds:6.1f} s, peak numpy memory {peak / 1e6:6.1f} MB", flush=True)


def _accepts(generator: str, param: str) -> bool:
    from anomalyforge.core.registry import make_generator

    return param in make_generator(generator).get_params()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=list(SERIES))
    parser.add_argument("--detectors", nargs="+", default=["realnvp", "maf", "autoencoder"])
    parser.add_argument("--time-budget", type=float, default=60.0, help="training seconds per model")
    parser.add_argument("--max-train-windows", type=int, default=10000)
    parser.add_argument("--generators", action="store_true", help="also compare flow / genias / rules on MSL C-1")
    parser.add_argument("--gen-window", type=int, default=100)
    parser.add_argument("--gen-n", type=int, default=200)
    parser.add_argument("--skip-detectors", action="store_true")
    parser.add_argument("--long", type=int, default=0, help="also score a synthetic series of this many steps")
    parser.add_argument("--long-channels", type=int, default=38)
    args = parser.parse_args()
    os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")
    torch.set_num_threads(1)
    np.seterr(all="ignore")
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}, torch threads: 1")
    if not args.skip_detectors:
        run_detectors(args.series, args.detectors, args.time_budget, args.max_train_windows)
    if args.long:
        run_long(args.long, args.long_channels, args.detectors)
    if args.generators:
        run_generators(args.gen_window, args.gen_n, args.time_budget)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
