"""Does the GenIAS VAE learn? Reconstruction on held-out TRAINING windows against the per-window channel mean.

For each series: fit GenIAS (defaults, its default time budget unless ``--budget``) on the first 85% of the
training part; the last 15% of the training part is held out (never test data, no labels anywhere). On
held-out windows, standardised with the fitted training mean and std, print:

- ``mse_vae``: MSE of the VAE's reconstruction (decoder of the posterior mean mu; the expected value on
  discrete channels), over every step and channel;
- ``mse_mean``: MSE of the per-window channel mean (each window reconstructed by its own channel means);
- ``ratio = mse_vae / mse_mean`` (the issue's target: <= 0.5 on SMD, MSL, GECCO and UCR);
- ``flat``: share of reconstructed values on continuous channels that lie in a run of >= 10 steps all
  within 1e-3 of the run's first value (a decoder dead zone draws such runs), and ``flat_in``, the same
  share in the input windows (real data has flat stretches too);
- epochs reached, why training stopped, fit seconds, seconds per epoch, the KL term and the training
  reconstruction term after fitting (``tr_rec``, in-sample, with sampled z: a gap to ``mse_vae`` is
  overfitting or a shift between the fitted and the held-out part).

    PYTHONPATH=src .venv/bin/python bench/bench_genias_vae.py [--budget S] [--epochs E] [--params JSON]
        [--only SMD,MSL] [--seed 0]

``--epochs E`` with ``--budget 0`` is deterministic mode (time_budget=None, E epochs): use it to compare
variants on equal training. Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from anomalyforge.core.windows import sliding_windows  # noqa: E402
from anomalyforge.datasets import load_series  # noqa: E402
from anomalyforge.generators.genias import GenIASGenerator  # noqa: E402

torch.set_num_threads(1)

SERIES = {
    "SMD": ["machine-1-2", "machine-2-1"],
    "MSL": ["C-1", "D-14"],
    "GECCO": ["gecco2018_water_quality"],
    "UCR": ["011_UCR_Anomaly_DISTORTEDECG1_10000_11800_12100", "141_UCR_Anomaly_InternalBleeding5_4000_6200_6370"],
    "NAB": ["realKnownCause/machine_temperature_system_failure", "realKnownCause/nyc_taxi"],
}
HELD_OUT = 0.15


def flat_share(x: np.ndarray, run: int = 10, tol: float = 1e-3) -> float:
    """Share of values of (N, T, C) windows inside a run of >= ``run`` steps within ``tol`` of its first value."""
    n, t, c = x.shape
    if c == 0:
        return float("nan")  # no continuous channel (every channel binary or constant)
    if t < run:
        return 0.0
    flat = np.zeros(x.shape, dtype=bool)
    for s in range(t - run + 1):
        seg = x[:, s : s + run]
        ok = (np.abs(seg - seg[:, :1]) <= tol).all(axis=1)  # (N, C)
        flat[:, s : s + run] |= ok[:, None, :]
    return float(flat.mean())


def evaluate(dataset: str, name: str, params: dict, seed: int) -> dict:
    data = load_series(dataset, name)
    train = data.train
    cut = int(round(len(train) * (1 - HELD_OUT)))
    fit_part, held = train[:cut], train[cut:]
    gen = GenIASGenerator(random_state=seed, **params)
    t0 = time.perf_counter()
    gen.fit(fit_part)
    fit_s = time.perf_counter() - t0
    window = int(gen.window)
    view, _ = sliding_windows(held, window, max(1, (len(held) - window) // 100 or 1))
    windows = np.array(view[:100])
    recon = gen.reconstruct(windows)
    z = (windows - gen.mean_) / gen.std_
    zr = (recon - gen.mean_) / gen.std_
    mse_vae = float(((z - zr) ** 2).mean())
    mse_mean = float(((z - z.mean(axis=1, keepdims=True)) ** 2).mean())
    cont = ~(gen.binary_ | gen.constant_)
    rep = gen.train_report_
    return {
        "dataset": dataset,
        "series": name.split("/")[-1][:32],
        "C": train.shape[1],
        "n_fit": len(fit_part),
        "n_held": len(held),
        "windows": len(windows),
        "mse_vae": mse_vae,
        "mse_mean": mse_mean,
        "ratio": mse_vae / mse_mean if mse_mean > 0 else float("nan"),
        "flat": flat_share(zr[:, :, cont]),
        "flat_in": flat_share(z[:, :, cont]),
        "epochs": rep["epochs_run"],
        "stopped_by": rep["stopped_by"],
        "fit_s": fit_s,
        "s_per_epoch": rep["seconds"] / max(1, rep["epochs_run"]),
        "kl": gen.train_losses_["kl"],
        "train_recon": gen.train_losses_["recon"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=None, help="time_budget seconds (0: none)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default: the generator's)")
    ap.add_argument("--params", type=str, default="{}", help="extra GenIAS params as JSON")
    ap.add_argument("--only", type=str, default="", help="comma-separated datasets")
    ap.add_argument("--first", action="store_true", help="first series of each dataset only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    params = json.loads(args.params)
    if args.budget is not None:
        params["time_budget"] = None if args.budget == 0 else args.budget
    if args.epochs is not None:
        params["epochs"] = args.epochs
    defaults = GenIASGenerator().get_params()
    print(f"GenIAS params: {params or 'defaults'} (time_budget={params.get('time_budget', defaults['time_budget'])})")
    only = [s for s in args.only.split(",") if s]
    head = (
        f"{'dataset':7} {'series':32} {'C':>3} {'n_fit':>6} {'n_held':>6} {'mse_vae':>8} {'mse_mean':>8} {'ratio':>6} "
        f"{'flat':>6} {'flat_in':>7} {'epochs':>6} {'stopped_by':>11} {'fit_s':>6} {'s/ep':>5} {'kl':>7} {'tr_rec':>6}"
    )
    print(head)
    for dataset, names in SERIES.items():
        if only and dataset not in only:
            continue
        for name in names[:1] if args.first else names:
            r = evaluate(dataset, name, params, args.seed)
            print(
                f"{r['dataset']:7} {r['series']:32} {r['C']:>3} {r['n_fit']:>6} {r['n_held']:>6} {r['mse_vae']:>8.4f} "
                f"{r['mse_mean']:>8.4f} {r['ratio']:>6.3f} {r['flat']:>6.3f} {r['flat_in']:>7.3f} {r['epochs']:>6} "
                f"{r['stopped_by']:>11} {r['fit_s']:>6.1f} {r['s_per_epoch']:>5.2f} "
                f"{r['kl']:>7.4f} {r['train_recon']:>6.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
