"""GenIAS generation quality: training effort and ARP/EDI against the other generators (GenIAS Table 2).

For SMD, MSL, GECCO, UCR and NAB: fit every generator (genias, rules, cutaddpaste, ncad, flow) on the
training part, GenIAS with a time budget (epochs / seconds / why training stopped / learned psi are
printed), and compare their anomalies by ARP (realism: proximity to the real test anomalies) and EDI
(diversity, normalised by log K as in Table 2) in one embedding fitted on the normal training windows
(``anomalyforge.apps.generate.compare_generators``, GenIAS App. E). The test labels only locate the real
anomalies ARP compares with; nothing here is fitted or chosen on them. Draws, per series, normal vs generated
windows and the embedding's 2-D projection (real anomalies and each generator's forgeries) to ``--out``.

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

NAB_SERIES = [
    "realKnownCause/nyc_taxi",
    "realKnownCause/machine_temperature_system_failure",
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d",
]
SERIES = {
    "SMD": ["machine-1-2", "machine-2-1", "machine-3-2"],
    "MSL": ["C-1", "C-2", "D-14", "D-15", "F-7"],
    "GECCO": ["gecco2018_water_quality"],
    "UCR": [
        "112_UCR_Anomaly_BIDMC1_2500_5400_5600",
        "136_UCR_Anomaly_InternalBleeding17_1600_3198_3309",
        "152_UCR_Anomaly_PowerDemand1_9000_18485_18821",
        "160_UCR_Anomaly_TkeepThirdMARS_3500_4711_4809",
        "161_UCR_Anomaly_WalkingAceleration1_1500_2764_2995",
    ],
    "NAB": NAB_SERIES,
}
# For decisions (--dev): series of ../shared/suites/dev.json with a training part (UCR ids ending in 5 or 7,
# the TSB-AD NAB file); all univariate.
DEV_SERIES = {
    "UCR": [
        "005_UCR_Anomaly_DISTORTEDCIMIS44AirTemperature1_4000_5391_5392",
        "017_UCR_Anomaly_DISTORTEDECG4_5000_17000_17100",
        "025_UCR_Anomaly_DISTORTEDInternalBleeding14_2800_5607_5634",
        "045_UCR_Anomaly_DISTORTEDPowerDemand2_14000_23357_23717",
        "105_UCR_Anomaly_NOISEgait3_24500_59900_60500",
        "205_UCR_Anomaly_CHARISfive_9812_28995_29085",
    ],
    "TSB": ["TSB-AD/001_NAB_id_1_Facility_tr_1007_1st_2014"],
}
WINDOW = {"NAB": 50, "TSB": 50}  # NAB's training parts are 15% of a few thousand steps: 200-step windows leave too few
STRIDE = {"MSL": 1, "SMD": 5, "UCR": 1, "GECCO": 5, "NAB": 1, "TSB": 1}  # CARLA's window strides (SMD 5); UCR 1
GENERATORS = ["genias", "rules", "cutaddpaste", "ncad", "flow"]
# GenIAS Table 2 (ARP / EDI, their embedding and protocol): the GenIAS column and its rank of five.
PAPER = {
    "MSL": (0.3605, 0.8833),
    "SMD": (0.0922, 0.9262),
    "GECCO": (0.1265, 0.8303),
    "UCR": (0.2161, 0.8961),
    "rank": (1.78, 1.22),
}

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
    path = out_dir / f"{dataset}_{name.replace('/', '_')[:40]}.png"
    return gr.plot_generated(windows, out, path, n_plot=4, title=f"genias on {dataset}/{name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=60.0, help="GenIAS training seconds per series")
    ap.add_argument("--n", type=int, default=500, help="anomalies per generator")
    ap.add_argument("--quick", action="store_true", help="one series per dataset")
    ap.add_argument("--per-dataset", type=int, default=None, help="at most this many series per dataset")
    ap.add_argument("--dev", action="store_true", help="the dev-suite series (for decisions) instead")
    ap.add_argument("--only", type=str, default="", help="comma-separated datasets")
    ap.add_argument("--generators", type=str, default=",".join(GENERATORS), help="comma-separated, genias first")
    ap.add_argument("--genias", type=str, default="{}", help="extra GenIAS params as JSON")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "genias_quality")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = json.loads(args.genias)
    GENERATORS[:] = args.generators.split(",")
    rows = []
    series = DEV_SERIES if args.dev else SERIES
    if args.only:
        series = {d: v for d, v in series.items() if d in args.only.split(",")}
    for dataset, names in series.items():
        for name in names[: 1 if args.quick else args.per_dataset]:
            _made.clear()
            t0 = time.perf_counter()
            params = {"genias": {"time_budget": args.budget, **extra}}
            res = gr.compare_generators(
                GENERATORS,
                dataset,
                name,
                window=WINDOW.get(dataset, 200),
                n=args.n,
                params=params,
                stride=STRIDE[dataset],
                projection_png=args.out / f"{dataset}_{name.replace('/', '_')[:40]}_projection.png",
                random_state=0,
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
                print(
                    f"    {r['generator']:<18} ARP={r['arp']:.4f} EDI={r['edi_norm']:.4f} "
                    f"fit={r['fit_seconds']:.1f}s gen={r['generate_seconds']:.1f}s",
                    flush=True,
                )
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    summary(rows, list(series))


def summary(rows: list[dict], datasets: list[str]) -> None:
    """Mean ARP/EDI (normalised) per dataset and average rank per generator over the series (rank 1 = best,
    normal reference excluded), with GenIAS's Table 2 figures (its own embedding and datasets) beside."""
    gens = [g for g in GENERATORS]
    keys = sorted({(r["dataset"], r["series"]) for r in rows})
    ranks = {m: {g: [] for g in gens} for m in ("arp", "edi_norm")}
    for key in keys:
        sub = {r["generator"]: r for r in rows if (r["dataset"], r["series"]) == key}
        for m in ("arp", "edi_norm"):
            order = sorted(gens, key=lambda g: -sub[g][m])
            for i, g in enumerate(order):
                ranks[m][g].append(i + 1)
    print(
        "\n| generator | "
        + " | ".join(f"ARP {d}" for d in datasets)
        + " | ARP rank | "
        + " | ".join(f"EDI {d}" for d in datasets)
        + " | EDI rank |"
    )
    print("|---" * (2 * len(datasets) + 3) + "|")
    for g in gens + ["(normal windows)"]:
        cells = []
        for m in ("arp", "edi_norm"):
            for d in datasets:
                vals = [r[m] for r in rows if r["generator"] == g and r["dataset"] == d]
                cells.append(f"{np.mean(vals):.4f}" if vals else "-")
            cells.append(f"{np.mean(ranks[m][g]):.2f}" if g in gens else "-")
        arp_cells, edi_cells = cells[: len(datasets) + 1], cells[len(datasets) + 1 :]
        print(f"| {g} | " + " | ".join(arp_cells + edi_cells) + " |")
    paper = [f"{PAPER[d][i]:.4f}" if d in PAPER else "-" for i in (0, 1) for d in datasets]
    arp_p, edi_p = paper[: len(datasets)], paper[len(datasets) :]
    print(
        "| GenIAS, paper Table 2 | "
        + " | ".join(arp_p + [f"{PAPER['rank'][0]:.2f}"] + edi_p + [f"{PAPER['rank'][1]:.2f}"])
        + " |"
    )


if __name__ == "__main__":
    main()
