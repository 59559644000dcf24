"""Compare variants of a detector on the dev suite (never the quick suite): mean VUS-PR, AUPR, best-F1.

Each variant is ``NAME=JSON`` of constructor parameters; variants that differ only in ``--score-only``
parameters share one fit per series (those are set with ``set_params`` before scoring). Rows per series
go to ``--out`` (JSON lines) and the means are printed at the end (and on Ctrl-C over what finished).

    .venv/bin/python bench/dev_variants.py urf raw='{}' summary='{"features": "summary"}' --score-only score
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("ANOMALYFORGE_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from anomalyforge.core.registry import make_detector  # noqa: E402
from anomalyforge.datasets import list_series, load_series  # noqa: E402
from anomalyforge.metrics import estimate_sliding_window, evaluate  # noqa: E402

DEV = "/work/shared/suites/dev.json"


def dev_series(limit: int | None, datasets: tuple[str, ...]) -> list[tuple[str, str]]:
    suite = json.load(open(DEV))
    out = []
    for part in suite["parts"]:
        if part["dataset"] not in datasets:
            continue
        names = [s.split("/", 1)[1] for s in list_series(part["dataset"])]
        if "ids" in part:
            names = [n for n in names if n[:3] in set(part["ids"])]
        out += [(part["dataset"], n) for n in names]
    return out[:limit] if limit else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detector")
    parser.add_argument("variants", nargs="+", help="NAME=JSON parameters")
    parser.add_argument("--score-only", nargs="*", default=[], help="parameters that need no refit")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--datasets", default="UCR,TSB")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    variants = {v.split("=", 1)[0]: json.loads(v.split("=", 1)[1]) for v in args.variants}
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    out = open(args.out, "a") if args.out else None
    try:
        for dataset, name in dev_series(args.limit, tuple(args.datasets.split(","))):
            data = load_series(dataset, name)
            train = data.train if data.train is not None and len(data.train) else data.test
            window = estimate_sliding_window(data.test)
            fitted: dict[str, tuple[object, float]] = {}
            for vname, params in variants.items():
                fit_params = {k: v for k, v in params.items() if k not in args.score_only}
                key = json.dumps(fit_params, sort_keys=True)
                with threadpool_limits(1):
                    if key not in fitted:
                        det = make_detector(args.detector, **fit_params)
                        t0 = time.perf_counter()
                        det.fit(train)
                        fitted[key] = (det, time.perf_counter() - t0)
                    det, fit_s = fitted[key]
                    det.set_params(**{k: v for k, v in params.items() if k in args.score_only})
                    t1 = time.perf_counter()
                    scores = det.anomaly_score(data.test)
                    score_s = time.perf_counter() - t1
                m = evaluate(data.labels, scores, sliding_window=window)
                row = {"variant": vname, "series": f"{dataset}/{name}", "fit_s": fit_s, "score_s": score_s,
                       **{k: float(m[k]) for k in ("vus_pr", "aupr", "best_f1")}}  # fmt: skip
                rows[vname].append(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                print(f"{dataset}/{name[:28]:<28} {vname:<12} VUS-PR {row['vus_pr']:.3f} AUPR {row['aupr']:.3f} "
                      f"fit {fit_s:.1f}s score {score_s:.1f}s", flush=True)  # fmt: skip
    except KeyboardInterrupt:
        pass
    print(f"\n{'variant':<14}{'n':>4}{'VUS-PR':>8}{'AUPR':>7}{'bestF1':>8}{'med s':>7}")
    for vname, rs in rows.items():
        if rs:
            mean = {k: np.mean([r[k] for r in rs]) for k in ("vus_pr", "aupr", "best_f1")}
            med = np.median([r["fit_s"] + r["score_s"] for r in rs])
            print(
                f"{vname:<14}{len(rs):>4}{mean['vus_pr']:>8.3f}{mean['aupr']:>7.3f}{mean['best_f1']:>8.3f}{med:>7.1f}"
            )


if __name__ == "__main__":
    main()
