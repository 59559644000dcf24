"""Deterministic-mode equivalence of the CARLA split with the code the running benchmark uses (e665d4b).

Before the split one class ran both scores: ``CARLA(score="majority")`` (the published stage-2 score) and
``CARLA(score="knn")`` (the old default). Their benchmark figures are reported as the new ``carla`` /
``genias_carla`` and ``carla_knn`` / ``genias_carla_knn``, so with ``time_budget=None``, fixed small epochs
and a seed each new name must give the old scores. Each side runs in a fresh subprocess with its own source
tree first on ``PYTHONPATH``; this prints the largest absolute difference of the training scores, the step
scores of a test series and its window scores (stride 1) for every case.

    .venv/bin/python bench/check_carla_equivalence.py                         # old tree /work/bench_e665/src
    .venv/bin/python bench/check_carla_equivalence.py --old /path/to/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402

NEW_SRC = Path(__file__).resolve().parents[1] / "src"
STAGE1 = {"window": 16, "stride": 2, "width": 4, "embedding_dim": 8, "n_neighbors": 3, "epochs_stage1": 3,
          "batch_size": 32, "time_budget": None, "random_state": 3}  # fmt: skip
STAGE2 = {"n_classes": 4, "epochs_stage2": 3}
GENIAS = {"generator_params": {"epochs": 2, "hidden_channels": 8, "max_train_windows": 64}}
# (case, old registry name, old extra params, new registry name, params shared by both)
CASES = [
    ("rules majority", "carla", {"score": "majority"}, "carla", {**STAGE1, **STAGE2}),
    ("rules majority, max, furthest, clip, 64-batches", "carla", {"score": "majority"}, "carla",
     {**STAGE1, **STAGE2, "how": "max", "furthest_weight": 1.0, "clip": 3.0, "score_batch_size": 64,
      "max_train_windows": 120}),
    ("genias majority", "genias_carla", {"score": "majority"}, "genias_carla", {**STAGE1, **STAGE2, **GENIAS}),
    ("rules knn", "carla", {"score": "knn"}, "carla_knn", STAGE1),
    ("rules knn, backbone only, mean, 64-batches", "carla", {"score": "knn"}, "carla_knn",
     {**STAGE1, "knn_features": "backbone", "how": "mean", "score_batch_size": 64, "reference_stride": 3}),
    ("rules knn, stats only, feature_clip", "carla", {"score": "knn"}, "carla_knn",
     {**STAGE1, "knn_features": "stats", "feature_clip": 2.0}),
    ("genias knn", "genias_carla", {"score": "knn"}, "genias_carla_knn", {**STAGE1, **GENIAS}),
]  # fmt: skip


def series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.stack(
        [np.sin(t / 7) + 0.1 * rng.normal(size=n), 3 * np.cos(t / 11) + 0.2 * rng.normal(size=n) + 5,
         rng.normal(size=n)], axis=1,
    )  # fmt: skip


def worker(name: str, params: dict, out: str) -> None:
    import warnings

    try:
        from anomalyforge.core.registry import make_detector
    except ImportError:  # the old tree had the registry at the package top
        from anomalyforge.registry import make_detector

    train, test = series(500, 1), series(300, 2)
    test[150:160, 0] += 4.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = make_detector(name, **params).fit(train)
        scores = det.anomaly_score(test)
        window_scores, _ = det.window_scores(test, stride=1)
    np.savez(out, train=det.train_scores_, test=scores, windows=window_scores)


def run_side(src: str, name: str, params: dict, out: str) -> dict[str, np.ndarray]:
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [sys.executable, __file__, "--worker", name, "--params", json.dumps(params), "--out", out]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{name} under {src} failed:\n{proc.stderr[-3000:]}")
    return dict(np.load(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", default="/work/bench_e665/src", help="source tree of the old code")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, json.loads(args.params), args.out)
        return
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (case, old_name, old_extra, new_name, params) in enumerate(CASES):
            old = run_side(args.old, old_name, {**params, **old_extra}, f"{tmp}/old{i}.npz")
            new = run_side(str(NEW_SRC), new_name, params, f"{tmp}/new{i}.npz")
            diffs = {k: float(np.max(np.abs(old[k] - new[k]))) for k in ("train", "test", "windows")}
            worst = max(worst, *diffs.values())
            print(f"{case:48s} old {old_name}({old_extra}) vs new {new_name}: max |diff| "
                  + "  ".join(f"{k} {v:.3g}" for k, v in diffs.items()), flush=True)  # fmt: skip
    print(f"largest max |diff| over all cases: {worst:.3g}")


if __name__ == "__main__":
    main()
