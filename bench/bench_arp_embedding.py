"""Does the ARP/EDI embedding tell anomalies from normal windows? AUROC of its natural anomaly scores.

For each series: the embedding is fitted on the normal windows of the first 80% of the training part (as
``compare_generators`` fits it on the training windows); then

- ``inj``: held-out normal windows (the last 20% of the training part) against the same windows with a
  CARLA rule anomaly injected (``rules``): a label-free criterion, usable for decisions on any series;
- ``real``: test windows with no labelled step against test windows overlapping a labelled anomaly (the
  question ARP rests on; on quick-suite series an evaluation only, never a tuning target);

each scored by the distance to the embedding's centre (Deep SVDD's own score) and by the mean distance
to the 5 nearest normal fitting-window representations (kNN). Collapse diagnostics: ``spread`` (RMS
distance of normal representations to their mean), ``rank`` (participation ratio of their covariance
eigenvalues, 1 = one direction, 128 = isotropic), ``ratio`` (median nearest-normal distance of real
anomalies over that of held-out normal windows; 1 = indistinguishable), and the ARP of the real
anomalies against rule anomalies and against the unchanged held-out windows (the 0.94 vs 0.94 of issue
15), as the embedding gives them and (``_u``) in units of normal spread (representations divided by the
RMS distance of the normal fitting representations to the centre).

Decisions (issue 15) were made on the DEV list (UCR ids ending in 5/7, TSB examples: inj and real
columns) and on the label-free ``inj`` columns of MSL C-1/D-14/F-7 and SMD 1-2/2-1 training hold-outs:
``compare_generators`` defaults to the feature embedding (dev mean inj_knn 0.900 vs 0.853, real_knn 0.832
vs 0.784 for Deep SVDD); ``min_feature_std`` = 0.001 (of 0.001/0.01/0.03/0.1/1 by inj AUROC on UCR 025,
057, 137, 205 and those MSL/SMD hold-outs). The QUICK list's real columns were only read afterwards.

    ANOMALYFORGE_NUM_THREADS=1 .venv/bin/python bench/bench_arp_embedding.py --set dev --embedding svdd
    ... --set quick --embedding features     # evaluation only
    ... --series MSL:C-1 UCR:025 --embedding svdd features
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from anomalyforge.apps.generate import anomalous_windows  # noqa: E402
from anomalyforge.core.registry import make_generator  # noqa: E402
from anomalyforge.core.windows import sliding_windows  # noqa: E402
from anomalyforge.datasets import list_series, load_series  # noqa: E402
from anomalyforge.metrics.generation import arp, make_embedding  # noqa: E402

torch.set_num_threads(1)

WINDOW = 200
STRIDE = {"MSL": 1, "SMD": 5, "UCR": 1, "GECCO": 10, "NAB": 1, "TSB": 1}
# dev: UCR ids ending in 5 or 7 (spread over the archive) and the TSB example files
DEV = [f"UCR:{i:03d}" for i in (5, 27, 57, 85, 117, 137, 157, 177, 205, 227)] + [
    "TSB:TSB-AD/001_NAB_id_1_Facility_tr_1007_1st_2014",
    "TSB:TSB-UAD/MBA_ECG805_data",
]
# quick suite (evaluation only): a few series per dataset
QUICK = [
    "MSL:C-1", "MSL:D-14", "MSL:F-7",
    "SMD:machine-1-2", "SMD:machine-2-1",
    "GECCO:gecco2018_water_quality",
    "UCR:011", "UCR:061", "UCR:111", "UCR:161", "UCR:211",
    "NAB:realKnownCause/machine_temperature_system_failure", "NAB:realKnownCause/nyc_taxi",
    "NAB:realAWSCloudwatch/ec2_cpu_utilization_5f5533",
]  # fmt: skip
N_EVAL = 300  # windows per group


def resolve(spec: str) -> tuple[str, str]:
    dataset, name = spec.split(":", 1)
    if dataset == "UCR" and name.isdigit():
        name = next(s.split("/", 1)[1] for s in list_series("UCR") if s.split("/", 1)[1].startswith(name + "_"))
    return dataset, name


def load(dataset: str, name: str):
    options = {"train_fraction": 0.3} if dataset == "TSB" and "MBA" in name else {}
    return load_series(dataset, name, **options)


def pick(view: np.ndarray, idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if len(idx) > k:
        idx = np.sort(rng.choice(idx, k, replace=False))
    return np.array(view[idx], dtype=np.float64)


def groups(data, stride: int, seed: int = 0) -> dict[str, np.ndarray]:
    """fit (normal training windows of the first 80%), held (last 20%), clean / real (test windows)."""
    rng = np.random.default_rng(seed)
    train = data.train
    cut = int(0.8 * len(train))
    if cut < WINDOW or len(train) - cut < WINDOW:
        cut = len(train) - WINDOW  # short training part: one held-out window at least
    fit_view, _ = sliding_windows(train[:cut], WINDOW, stride)
    held_view, _ = sliding_windows(train[cut:], WINDOW, max(1, stride))
    test_view, starts = sliding_windows(data.test, WINDOW, stride)
    csum = np.concatenate(([0], np.cumsum(data.labels != 0)))
    hit = csum[starts + WINDOW] - csum[starts] > 0
    return {
        "fit": np.asarray(fit_view),
        "held": pick(held_view, np.arange(len(held_view)), N_EVAL, rng),
        "clean": pick(test_view, np.flatnonzero(~hit), N_EVAL, rng),
        "real": anomalous_windows(data.test, data.labels, WINDOW, stride, N_EVAL, seed),
    }


def auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    return float(roc_auc_score(y, np.r_[neg, pos]))


def evaluate(spec: str, embedding: str, params: dict) -> dict:
    dataset, name = resolve(spec)
    data = load(dataset, name)
    g = groups(data, STRIDE[dataset])
    injected = make_generator("rules").fit(data.train).generate(g["held"], random_state=0).patched
    t0 = time.perf_counter()
    emb = make_embedding(embedding, **params).fit(g["fit"])
    fit_s = time.perf_counter() - t0
    ref = emb.transform(pick(g["fit"], np.arange(len(g["fit"])), 1000, np.random.default_rng(0)))
    V = {k: emb.transform(g[k]) for k in ("held", "clean", "real")}
    V["inj"] = emb.transform(injected)
    centre = emb.center_
    knn = NearestNeighbors(n_neighbors=min(5, len(ref))).fit(ref)

    def dc(v):
        return ((v - centre) ** 2).sum(axis=1)

    def dk(v):
        return knn.kneighbors(v)[0].mean(axis=1)

    unit = float(np.sqrt(dc(ref).mean()))
    spread = float(np.sqrt(((ref - ref.mean(axis=0)) ** 2).sum(axis=1).mean()))
    ev = np.clip(np.linalg.eigvalsh(np.cov(ref.T)), 0, None)
    rank = float(ev.sum() ** 2 / max((ev**2).sum(), 1e-300))
    row = {
        "series": f"{dataset}/{name[:28]}",
        "embedding": embedding,
        "inj_svdd": auroc(dc(V["held"]), dc(V["inj"])),
        "inj_knn": auroc(dk(V["held"]), dk(V["inj"])),
        "real_svdd": auroc(dc(V["clean"]), dc(V["real"])),
        "real_knn": auroc(dk(V["clean"]), dk(V["real"])),
        "held_vs_real_knn": auroc(dk(V["held"]), dk(V["real"])),
        "spread": spread,
        "rank": rank,
        "ratio": float(np.median(dk(V["real"])) / max(np.median(dk(V["held"])), 1e-300)),
        "arp_rules": arp(V["real"], V["inj"]),
        "arp_normal": arp(V["real"], V["held"]),
        # the same in units of normal spread (RMS distance of normal representations to the centre)
        "arp_rules_u": arp(V["real"] / unit, V["inj"] / unit),
        "arp_normal_u": arp(V["real"] / unit, V["held"] / unit),
        "n_real": len(V["real"]),
        "n_clean": len(V["clean"]),
        "fit_s": round(fit_s, 1),
    }
    return row


COLS = ["inj_svdd", "inj_knn", "real_svdd", "real_knn", "held_vs_real_knn", "spread", "rank", "ratio",
        "arp_rules", "arp_normal", "arp_rules_u", "arp_normal_u"]  # fmt: skip


def print_rows(rows: list[dict], title: str) -> None:
    print(f"\n{title}\n| series | embedding | " + " | ".join(COLS) + " | n_real | fit s |")
    print("|---" * (len(COLS) + 4) + "|")
    for r in rows:
        cells = [f"{r[c]:.3f}" if abs(r[c]) < 1e3 else f"{r[c]:.3g}" for c in COLS]
        print(f"| {r['series']} | {r['embedding']} | " + " | ".join(cells) + f" | {r['n_real']} | {r['fit_s']} |")
    for e in dict.fromkeys(r["embedding"] for r in rows):
        sub = [r for r in rows if r["embedding"] == e]
        means = [f"{np.mean([r[c] for r in sub]):.3f}" for c in COLS]
        print(f"| **mean ({len(sub)})** | {e} | " + " | ".join(means) + " | | |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["dev", "quick"], default=None)
    ap.add_argument("--series", nargs="*", default=[], help="DATASET:NAME (UCR:NNN for a UCR id)")
    ap.add_argument("--embedding", nargs="+", default=["svdd"], help='make_embedding names, or NAME{"param": value}')
    ap.add_argument("--params", type=str, default="{}", help='JSON {"name": {param: value}}')
    ap.add_argument("--json", type=str, default=None, help="write the rows here")
    args = ap.parse_args()
    specs = args.series + (DEV if args.set == "dev" else QUICK if args.set == "quick" else [])
    params = json.loads(args.params)
    rows = []
    for spec in specs:
        for e in args.embedding:
            base, _, extra = e.partition("{")  # "svdd" or 'svdd{"epochs": 0}' (a labelled variant)
            try:
                row = evaluate(spec, base, {**params.get(base, {}), **(json.loads("{" + extra) if extra else {})})
            except ValueError as err:  # e.g. a training part shorter than the window
                print(f"skip {spec}: {err}", flush=True)
                continue
            row["embedding"] = e
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    title = "quick suite (EVALUATION ONLY, nothing decided on it)" if args.set == "quick" else "dev / label-free"
    print_rows(rows, title)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
