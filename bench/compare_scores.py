"""Scores of some detectors on a few benchmark series, written to an .npz, and the largest differences
between two such files: run it once with an older checkout on PYTHONPATH and once with this one.

    PYTHONPATH=/path/to/old/src python bench/compare_scores.py run old.npz
    python bench/compare_scores.py run new.npz
    python bench/compare_scores.py diff old.npz new.npz

Only the package's top-level API is used, so the same script runs against older layouts.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

CLASSIC = ["iforest", "ocsvm", "lof", "elliptic", "pca", "knn", "zscore"]
SERIES = [
    ("UCR", "001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620"),
    ("UCR", "051_UCR_Anomaly_DISTORTEDTkeepSecondMARS_3500_9330_9340"),
    ("UCR", "121_UCR_Anomaly_ECG3_15000_16000_16100"),
    ("NAB", "artificialWithAnomaly/art_daily_jumpsup"),
    ("NAB", "realKnownCause/machine_temperature_system_failure"),
    ("MSL", "C-1"),
    ("MSL", "M-1"),
    ("SMD", "machine-1-2"),
]


def _series(data_root: str | None) -> list:
    import anomalyforge as af

    return [af.load_series(dataset, name, data_root) for dataset, name in SERIES]


def run(path: str, detectors: list[str], data_root: str | None) -> None:
    import anomalyforge as af

    arrays = {}
    for data in _series(data_root):
        for name in detectors:
            t0 = time.perf_counter()
            det = af.make_detector(name).fit(data.train)
            arrays[f"{name}|{data.name}"] = det.anomaly_score(data.test)
            print(f"{name:<9} {data.name}: {time.perf_counter() - t0:.1f} s", flush=True)
    np.savez(path, **arrays)


def diff(a_path: str, b_path: str) -> float:
    a, b = np.load(a_path), np.load(b_path)
    worst = 0.0
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files:
            print(f"{key}: only in {'the first' if key in a.files else 'the second'} file")
            continue
        d = float(np.max(np.abs(a[key] - b[key])))
        worst = max(worst, d)
        print(f"{key:<45} max |diff| {d:.3g}")
    print(f"largest absolute difference over {len(a.files)} score arrays: {worst:.3g}")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("out")
    r.add_argument("--detectors", default=",".join(CLASSIC))
    r.add_argument("--data-root", default="../shared/datasets")
    d = sub.add_parser("diff")
    d.add_argument("first")
    d.add_argument("second")
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.detectors.split(","), args.data_root)
    else:
        diff(args.first, args.second)
    return 0


if __name__ == "__main__":
    sys.exit(main())
