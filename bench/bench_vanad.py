"""Speed and quality of VAN-AD on a few quick-suite series.

Prints, per series and variant: fit and score seconds, the MAE used (``mae_source_``) and its training
report, VUS-PR (headline), AUPR and best-F1 (an ORACLE metric: its threshold is chosen with the test
labels) on the test part, from ``anomalyforge.metrics.evaluate``. Training uses only the training part.
Runs with one torch thread and prints the machine load before and after, since the CPU may be shared.

One fit per series (small MAE trained on the training windows + flow), then four ways to score, set with
public parameters: ``default`` (standardised sum of both terms), ``mae_only`` (reconstruction term alone),
``nf_only`` (flow NLL alone) and ``paper_sum`` (the raw ``lambda_rec * rec + lambda_nf * nll`` with
lambda_nf = 0.001). With ``--mae-weights PATH`` (a published ``mae_visualize_vit_base.pth``, 224 x 224
images) the frozen checkpoint MAE is used instead of the trained one.

    .venv/bin/python bench/bench_vanad.py                         # SMD machine-1-2, MSL C-1, UCR 011
    .venv/bin/python bench/bench_vanad.py --series MSL/C-1 --variants default --mae-time-budget 30
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import torch  # noqa: E402

from anomalyforge.core.registry import make_detector  # noqa: E402
from anomalyforge.datasets import list_series, load_series  # noqa: E402
from anomalyforge.metrics import evaluate  # noqa: E402

SERIES = ("SMD/machine-1-2", "MSL/C-1", "UCR/011")  # SMD machine-1-1 is not in ../shared/datasets
VARIANTS = {
    "default": {"combine": "standardised"},
    "mae_only": {"combine": "paper", "lambda_rec": 1.0, "lambda_nf": 0.0},
    "nf_only": {"combine": "paper", "lambda_rec": 0.0, "lambda_nf": 1.0},
    "paper_sum": {"combine": "paper", "lambda_rec": 1.0, "lambda_nf": 0.001},
}


def resolve(spec: str) -> tuple[str, str]:
    """``"UCR/011"`` -> ("UCR", full series name); other names pass through."""
    dataset, name = spec.split("/", 1)
    if dataset == "UCR" and name.isdigit():
        name = next(s.split("/", 1)[1] for s in list_series("UCR") if s.split("/", 1)[1].startswith(f"{name}_"))
    return dataset, name


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=list(SERIES))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--mae-time-budget", type=float, default=120.0)
    parser.add_argument("--mae-weights", default=None, help="a published MAE checkpoint (frozen, 224 x 224)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"start: {load()}; torch threads {torch.get_num_threads()}")
    print(f"{'series':<18} {'variant':<10} {'fit s':>7} {'score s':>8} {'VUS-PR':>7} {'AUPR':>6} {'bestF1':>6}")
    for spec in args.series:
        dataset, name = resolve(spec)
        data = load_series(dataset, name)
        params = {"window": args.window, "mae_time_budget": args.mae_time_budget, "mae_weights": args.mae_weights}
        det = make_detector("vanad", **params)
        t0 = time.perf_counter()
        det.fit(data.train)
        fit_s = time.perf_counter() - t0
        for variant in args.variants:
            det.set_params(**VARIANTS[variant])
            t1 = time.perf_counter()
            scores = det.anomaly_score(data.test)
            score_s = time.perf_counter() - t1
            m = evaluate(data.labels, scores)
            print(
                f"{spec:<18} {variant:<10} {fit_s:7.1f} {score_s:8.1f} {m['vus_pr']:7.3f} {m['aupr']:6.3f} "
                f"{m['best_f1']:6.3f}",
                flush=True,
            )
        report = getattr(det, "mae_report_", {})
        mae = det.mae_source_
        if report:
            mae += f" ({report['epochs_run']} epochs, {report['stopped_by']}, val loss {report['best_val_loss']:.4f})"
        print(f"  {spec}: MAE {mae}; period {det.period_}; train {data.train.shape}, test {data.test.shape}")
    print(f"end: {load()}")
    print("best-F1 is an oracle (threshold chosen on the test labels); VUS-PR is the headline.")


if __name__ == "__main__":
    main()
