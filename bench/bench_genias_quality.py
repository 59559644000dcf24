"""GenIAS generation quality: training effort and ARP/EDI against the rule-based injectors.

For MSL (5 channels), SMD (3 machines) and UCR (5 series): fit GenIAS on the training part with a time
budget, report epochs / seconds / why training stopped / learned psi, and compare its anomalies with the
rule-based generators by ARP (realism: proximity to the real test anomalies) and EDI (diversity) in one
Deep SVDD embedding (``anomalyforge.apps.generate.compare_generators``, GenIAS App. E). Also draws
normal vs generated windows to ``out/genias_quality/`` (git-ignored).

    ANOMALYFORGE_NUM_THREADS=1 .venv/bin/python bench/bench_genias_quality.py [--budget 60] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import anomalyforge.apps.generate as gr  # noqa: E402

torch.set_num_threads(1)

SERIES = {
    "MSL": ["C-1", "C-2", "D-14", "D-15", "F-7"],
    "SMD": ["machine-1-2", "machine-2-1", "machine-3-2"],
    "UCR": [
        "112_UCR_Anomaly_BIDMC1_2500_5400_5600",
        "136_UCR_Anomaly_InternalBleeding17_1600_3198_3309",
        "152_UCR_Anomaly_PowerDemand1_9000_18485_18821",
        "160_UCR_Anomaly_TkeepThirdMARS_3500_4711_4809",
        "161_UCR_Anomaly_WalkingAceleration1_1500_2764_2995",
    ],
}
STRIDE = {"MSL": 1, "SMD": 5, "UCR": 1}  # CARLA's window strides (SMD 5); UCR 1
GENERATORS = ["genias", "rules", "cutaddpaste", "ncad"]

_made: list = []
_make = gr.make_generator


def _recording_make(name, **params):
    """Keep the generators ``compare_generators`` builds, to read GenIAS's training report afterwards."""
    gen = _make(name, **params)
    _made.append(gen)
    return gen


gr.make_generator = _recording_make


def plot(gen, dataset: str, name: str, out_dir: Path) -> Path:
    data = gr.load_series_data(dataset, name)
    view, _ = gr.sliding_windows(data.train, gen.window, 50)
    rng = np.random.default_rng(0)
    windows = np.array(view[np.sort(rng.choice(len(view), min(4, len(view)), replace=False))])
    out = gen.generate(windows, random_state=0)
    path = out_dir / f"{dataset}_{name[:40]}.png"
    return gr.plot_generated(windows, out, path, n_plot=4, title=f"genias on {dataset}/{name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=60.0, help="GenIAS training seconds per series")
    ap.add_argument("--n", type=int, default=500, help="anomalies per generator")
    ap.add_argument("--quick", action="store_true", help="one series per dataset")
    ap.add_argument("--genias", type=str, default="{}", help="extra GenIAS params as JSON")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "genias_quality")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = json.loads(args.genias)
    rows = []
    for dataset, names in SERIES.items():
        for name in names[:1] if args.quick else names:
            _made.clear()
            t0 = time.perf_counter()
            params = {"genias": {"time_budget": args.budget, **extra}}
            res = gr.compare_generators(
                GENERATORS, dataset, name, n=args.n, params=params, stride=STRIDE[dataset], random_state=0
            )
            gen = next(g for g in _made if g.registry_name == "genias")
            rep = gen.train_report_
            png = plot(gen, dataset, name, args.out)
            print(
                f"{dataset}/{name}: genias epochs={rep['epochs_run']} best={rep['best_epoch']} "
                f"seconds={rep['seconds']} stopped_by={rep['stopped_by']} psi={gen.psi_[0]:.3f} "
                f"train_windows={gen.n_train_windows_} losses={gen.train_losses_} "
                f"(series total {time.perf_counter() - t0:.0f} s) plot={png.name}",
                flush=True,
            )
            for r in res:
                rows.append({"dataset": dataset, "series": name, **r})
                print(f"    {r['generator']:<18} ARP={r['arp']:.4f} EDI={r['edi']:.4f}", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    summary(rows)


def summary(rows: list[dict]) -> None:
    """Mean ARP/EDI per dataset and average rank per generator (rank 1 = best, normal reference excluded)."""
    gens = [g for g in GENERATORS]
    keys = sorted({(r["dataset"], r["series"]) for r in rows})
    ranks = {m: {g: [] for g in gens} for m in ("arp", "edi")}
    for key in keys:
        sub = {r["generator"]: r for r in rows if (r["dataset"], r["series"]) == key}
        for m in ("arp", "edi"):
            order = sorted(gens, key=lambda g: -sub[g][m])
            for i, g in enumerate(order):
                ranks[m][g].append(i + 1)
    print(
        "\n| generator | "
        + " | ".join(f"ARP {d}" for d in SERIES)
        + " | ARP rank | "
        + " | ".join(f"EDI {d}" for d in SERIES)
        + " | EDI rank |"
    )
    print("|---" * (2 * len(SERIES) + 3) + "|")
    for g in gens + ["(normal windows)"]:
        cells = []
        for m in ("arp", "edi"):
            for d in SERIES:
                vals = [r[m] for r in rows if r["generator"] == g and r["dataset"] == d]
                cells.append(f"{np.mean(vals):.4f}" if vals else "-")
            cells.append(f"{np.mean(ranks[m][g]):.2f}" if g in gens else "-")
        arp_cells, edi_cells = cells[: len(SERIES) + 1], cells[len(SERIES) + 1 :]
        print(f"| {g} | " + " | ".join(arp_cells + edi_cells) + " |")


if __name__ == "__main__":
    main()
