"""Command line: thin wrappers that parse arguments and call the library.

    anomalyforge detectors | generators
    anomalyforge detect SERIES.csv [--train TRAIN.csv] [--detector NAME (default auto)] [--param k=v ...] --out DIR
    anomalyforge datasets [--root DIR]
    anomalyforge generate --generator NAME --dataset MSL --series C-1 --out DIR
    anomalyforge generate --compare genias,rules --dataset MSL --series C-1
    anomalyforge bench --suite quick --detectors iforest,pca --data-root DIR --out DIR [--workers N] [--param D.K=V]
    anomalyforge report DIR [--from DIR1 DIR2 ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _cmd_list(args: argparse.Namespace) -> int:
    from anomalyforge.core.registry import list_detectors, list_generators

    items = list_detectors() if args.command == "detectors" else list_generators()
    width = max(len(n) for n in items)
    for name, description in items.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from anomalyforge.apps.detect import run_detection
    from anomalyforge.apps.params import detector_params

    result = run_detection(
        args.series,
        args.detector,
        args.out,
        train_path=args.train,
        params=detector_params(args.detector, args.param),
        fill=args.fill,
        save_model=args.save_model,
        progress=not args.quiet,
    )
    flagged = int(result.predictions.sum())
    print(f"detector      {args.detector} (fitted on {result.trained_on})")
    print(f"time steps    {len(result.scores)}   flagged {flagged}   threshold {result.threshold:.6g}")
    print(f"fit / score   {result.fit_seconds:.2f} s / {result.score_seconds:.2f} s")
    for key in ("vus_pr", "aupr", "auroc", "best_f1"):
        if key in result.metrics:
            print(f"{key:<13} {result.metrics[key]:.4f}")
    print(f"scores        {result.scores_csv}")
    print(f"plot          {result.plot_png}")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from anomalyforge.datasets import describe_datasets

    rows = describe_datasets(args.root)
    if not rows:
        print("no datasets found", file=sys.stderr)
        return 1
    print(f"{'dataset':<10} {'series':>6}  folder")
    for name, count, folder in rows:
        print(f"{name:<10} {count:>6}  {folder}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from anomalyforge.apps.generate import compare_generators, generate_for_series
    from anomalyforge.apps.params import generator_params

    if args.compare:
        rows = compare_generators(_names(args.compare), args.dataset, args.series, data_root=args.data_root)
        print(f"{'generator':<14} {'ARP':>8} {'EDI':>8} {'fit s':>8}")
        for row in rows:
            print(f"{row['generator']:<14} {row['arp']:>8.4f} {row['edi']:>8.4f} {row['fit_seconds']:>8.2f}")
        return 0
    if not args.generator or not args.out:
        raise SystemExit("generate needs --generator NAME and --out DIR (or --compare a,b,...)")
    paths = generate_for_series(
        args.generator,
        args.dataset,
        args.series,
        args.out,
        data_root=args.data_root,
        params=generator_params(args.generator, args.param),
    )
    for label, path in paths.items():
        print(f"{label:<10} {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from anomalyforge.apps.params import bench_params
    from anomalyforge.bench import run_benchmark

    seeds = [int(s) for s in _names(args.seeds)]
    detectors = _names(args.detectors)
    params = bench_params(args.param, detectors)
    summary = run_benchmark(
        suite=args.suite,
        detectors=detectors,
        data_root=args.data_root,
        out_dir=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        seeds=seeds,
        params=params or None,
        progress=not args.quiet,
    )
    print(summary.table)
    print(f"\nreport: {summary.report_md}  {summary.report_html}")
    print(f"results: {summary.database}  ({summary.n_done} done, {summary.n_failed} failed, "
          f"{summary.n_skipped} already there, {summary.seconds:.0f} s)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from anomalyforge.bench import merge_results

    report, copied = merge_results(args.out, args.sources or [], data_root=args.data_root, title=args.title)
    print(report.table)
    print(f"\nreport: {report.markdown}  {report.html}  ({copied} rows merged in)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anomalyforge", description="Time-series anomaly detection toolkit.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("detectors", help="list registered detectors").set_defaults(func=_cmd_list)
    sub.add_parser("generators", help="list registered anomaly generators").set_defaults(func=_cmd_list)

    p = sub.add_parser("detect", help="fit a detector and score a CSV/Parquet series")
    p.add_argument("series", help="CSV/Parquet: numeric columns are channels; timestamp and label columns optional")
    p.add_argument("--train", help="normal training series in the same layout (default: fit on SERIES)")
    p.add_argument("--detector", default="auto",
                   help="registered detector name (see `anomalyforge detectors`; default: auto)")
    p.add_argument("--param", action="append", metavar="K=V", help="detector parameter, repeatable")
    p.add_argument("--out", required=True, help="output folder for scores.csv and plot.png")
    p.add_argument("--fill", choices=["none", "ffill"], default="none", help="missing cells: refuse or fill")
    p.add_argument("--save-model", action="store_true", help="also write model.safetensors")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("datasets", help="list the benchmark datasets found under a data root")
    p.add_argument("--root", help="data root (default: $ANOMALYFORGE_DATA or ../shared/datasets)")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("generate", help="forge anomalies for a benchmark series, or compare generators")
    p.add_argument("--generator", help="registered generator name (see `anomalyforge generators`)")
    p.add_argument("--compare", help="comma-separated generators: print ARP and EDI against real anomalies")
    p.add_argument("--dataset", required=True)
    p.add_argument("--series", required=True)
    p.add_argument("--out", help="output folder (anomalies.npz and a plot)")
    p.add_argument("--data-root")
    p.add_argument("--param", action="append", metavar="K=V", help="generator parameter, repeatable")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("bench", help="run detectors over a benchmark suite and write a report")
    p.add_argument("--suite", default="quick", help="suite name (demo, quick, full) or a suite JSON file")
    p.add_argument("--detectors", default="iforest,pca")
    p.add_argument("--data-root")
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--scheduler", help="dask scheduler address tcp://HOST:PORT (default: local joblib)")
    p.add_argument("--seeds", default="0")
    p.add_argument("--param", action="append", metavar="DETECTOR.K=V",
                   help="a detector's parameter, e.g. copula.time_budget=60; repeatable")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("report", help="rebuild a benchmark report, merging the results of other runs into it")
    p.add_argument("out", help="benchmark folder to write (its results.sqlite is created if missing)")
    p.add_argument("--from", dest="sources", nargs="+", metavar="DIR", help="benchmark folders to merge in")
    p.add_argument("--data-root")
    p.add_argument("--title")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError, TypeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"anomalyforge {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
