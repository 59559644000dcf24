"""Command line: thin wrappers that parse arguments and call the library.

    anomalyforge detectors | generators
    anomalyforge detect SERIES.csv [--train TRAIN.csv] [--detector NAME] [--param k=v ...] --out DIR [--json]
    anomalyforge fit TRAIN.csv [--detector NAME] [--param k=v ...] [--fill ffill] --out MODEL.safetensors
    anomalyforge sign MODEL.safetensors [--model-key-file F]
    anomalyforge serve --models DIR [--host 127.0.0.1] [--port 8000] [--token-file F] [--state DIR]
    anomalyforge score MODEL.safetensors SERIES.csv --out DIR [--json]
    anomalyforge stream MODEL.safetensors [FILE|-] [--follow --idle-timeout S]
    anomalyforge datasets [--root DIR] [--json]
    anomalyforge generate --generator NAME --dataset MSL --series C-1 --out DIR
    anomalyforge generate --compare genias,rules --dataset MSL --series C-1
    anomalyforge bench --suite quick --detectors iforest,pca --data-root DIR --out DIR [--workers N] [--param D.K=V]
    anomalyforge report DIR [--from DIR1 DIR2 ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

# library wording -> what a command-line user types
_CLI_TERMS = [
    (re.compile(r"pass fill='ffill'"), "pass --fill ffill"),
    (re.compile(r"fill='ffill'"), "--fill ffill"),
    (re.compile(r"if it is not a channel, pass channels=\[\.\.\.\] or timestamp_column=\.\.\."),
     "if it is not a channel, name its header timestamp (or time, date) or label, or remove the column"),
]


def _in_cli_terms(message: str) -> str:
    for pattern, replacement in _CLI_TERMS:
        message = pattern.sub(replacement, message)
    return message


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _out_folder(path: str | None, flag: str = "--out") -> None:
    """Refuse an output folder that is an existing file, before anything runs."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{flag} {path} is an existing file, not a folder; give a folder path (it is created)")


def _cmd_list(args: argparse.Namespace) -> int:
    from anomalyforge.core.registry import list_detectors, list_generators

    items = list_detectors() if args.command == "detectors" else list_generators()
    width = max(len(n) for n in items)
    for name, description in items.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _print_detection(result: object, detector: str, *, as_json: bool = False, params: object = None) -> None:
    r: Any = result
    for notice in r.notices:
        print(f"notice: {notice}", file=sys.stderr)
    flagged = int(r.predictions.sum())
    if as_json:
        print(json.dumps({
            "detector": detector, "params": params, "trained_on": r.trained_on, "n_steps": len(r.scores),
            "n_flagged": flagged, "threshold": r.threshold, "fit_seconds": r.fit_seconds,
            "score_seconds": r.score_seconds, "metrics": r.metrics, "intervals": [iv.as_dict() for iv in r.intervals],
            "scores_csv": str(r.scores_csv), "intervals_csv": str(r.intervals_csv), "plot_png": str(r.plot_png),
            "notices": r.notices,
        }, indent=1, default=str))  # fmt: skip
        return
    print(f"detector      {detector} (fitted on {r.trained_on})")
    print(f"time steps    {len(r.scores)}   flagged {flagged}   threshold {r.threshold:.6g}")
    print(f"fit / score   {r.fit_seconds:.2f} s / {r.score_seconds:.2f} s")
    for key in ("vus_pr", "aupr", "auroc", "best_f1"):
        if key in r.metrics:
            print(f"{key:<13} {r.metrics[key]:.4f}")
    print(f"alerts        {len(r.intervals)}")
    for iv in sorted(r.intervals, key=lambda v: -v.peak_score)[:5]:
        top = f"   top channels {', '.join(iv.top_channels)}" if iv.top_channels else ""
        print(f"  {iv.start}-{iv.end}   peak {iv.peak_score:.4g}{top}")
    print(f"scores        {r.scores_csv}")
    print(f"intervals     {r.intervals_csv}")
    print(f"plot          {r.plot_png}")


def _cmd_detect(args: argparse.Namespace) -> int:
    from anomalyforge.apps.detect import run_detection
    from anomalyforge.apps.params import detector_params

    params = detector_params(args.detector, args.param)
    _out_folder(args.out)
    result = run_detection(
        args.series,
        args.detector,
        args.out,
        train_path=args.train,
        params=params,
        fill=args.fill,
        save_model=args.save_model,
        max_gap=args.max_gap,
        min_length=args.min_length,
        progress=not (args.quiet or args.json),
        log_score=args.log_score,
    )
    _print_detection(result, args.detector, as_json=args.json, params=params)
    return 0


def _signing_key(args: argparse.Namespace, command: str) -> bytes:
    from anomalyforge.core.persistence import MODEL_KEY_ENV, model_key

    key = model_key(key_file=args.model_key_file)
    if key is None:
        raise ValueError(f"{command} needs a signing key: set ${MODEL_KEY_ENV} or pass --model-key-file F")
    return key


def _cmd_fit(args: argparse.Namespace) -> int:
    from anomalyforge.apps.fitscore import fit_model
    from anomalyforge.apps.params import detector_params

    key = _signing_key(args, "fit --sign") if args.sign else None
    result = fit_model(args.train, args.detector, args.out, params=detector_params(args.detector, args.param),
                       fill=args.fill, key=key)  # fmt: skip
    print(f"detector      {args.detector} (fitted on {args.train}, {result.n_rows} rows, {result.fit_seconds:.2f} s)")
    print(f"channels      {', '.join(result.schema.channels)}")
    print(f"threshold     {result.model.threshold_:.6g} (from {result.model.threshold_source_} scores)")
    print(f"model         {result.model_path}{' (signed)' if key else ''}")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from anomalyforge.core.persistence import sign_model

    key = _signing_key(args, "sign")
    for path in args.models:
        print(f"signed        {path} (key id {sign_model(path, key)})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from anomalyforge.apps.serve import ServeConfig, run_server

    run_server(ServeConfig.from_args(args))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from anomalyforge.apps.fitscore import score_file

    _out_folder(args.out)
    result = score_file(args.model, args.series, args.out, fill=args.fill, max_gap=args.max_gap,
                        min_length=args.min_length, log_score=args.log_score)  # fmt: skip
    _print_detection(result, f"{result.detector} from {args.model}", as_json=args.json)
    return 0


def _cmd_stream(args: argparse.Namespace) -> int:
    from anomalyforge.apps.stream import run_stream

    if args.follow and args.source == "-":
        raise ValueError("--follow reads a file as it grows; with stdin (-) rows are read as they arrive anyway")
    run_stream(args.model, args.source, follow=args.follow, idle_timeout=args.idle_timeout, poll=args.poll,
               fill=args.fill, max_gap=args.max_gap, min_length=args.min_length)  # fmt: skip
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from anomalyforge.datasets import describe_datasets

    rows = describe_datasets(args.root)
    if args.json:
        print(json.dumps([{"dataset": name, "series": count, "folder": str(folder)} for name, count, folder in rows],
                         indent=1))
    if not rows:
        print("no datasets found", file=sys.stderr)
        return 1
    if args.json:
        return 0
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
    _out_folder(args.out)
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
    _out_folder(args.out)
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
    if summary.n_failed and not summary.n_done and not summary.n_skipped:
        from anomalyforge.bench import ResultStore

        frame = ResultStore(summary.database).frame()
        errors = frame[frame.status != "ok"] if len(frame) else frame
        print(f"anomalyforge bench: error: every job failed ({summary.n_failed}); the first errors:", file=sys.stderr)
        for row in list(errors.itertuples())[:3]:
            print(f"  {row.detector} on {row.series}: {str(row.error).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from anomalyforge.bench import ResultStore, merge_results

    _out_folder(args.out, "report DIR")
    if not args.sources and not (Path(args.out) / "results.sqlite").is_file():
        print(f"anomalyforge report: error: no results in {args.out} (no results.sqlite); run "
              f"`anomalyforge bench --out {args.out}` first, or merge runs in with --from DIR ...", file=sys.stderr)
        return 1
    report, copied = merge_results(args.out, args.sources or [], data_root=args.data_root, title=args.title)
    if not len(ResultStore(Path(args.out) / "results.sqlite").frame()):
        print(f"anomalyforge report: error: no results in {args.out}: its results store holds no rows"
              + (" and the --from folders added none" if args.sources else ""), file=sys.stderr)
        return 1
    print(report.table)
    print(f"\nreport: {report.markdown}  {report.html}  ({copied} rows merged in)")
    return 0


# auto (knn + lof + pca, calibrated and combined): above knn on the dev series (decided there) and on the
# quick-suite mean (README's table)
DEFAULT_DETECTOR = "auto"


def _add_detector_option(p: argparse.ArgumentParser) -> None:
    """``--detector``, the same for detect and fit (so a default given to one is the other's)."""
    p.add_argument("--detector", default=DEFAULT_DETECTOR,
                   help=f"registered detector name (see `anomalyforge detectors`; default {DEFAULT_DETECTOR}, "
                        "the best dev-suite and quick-suite mean: README, 'Which detector should I use?')")  # fmt: skip


def _add_alert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-gap", type=int, default=0, metavar="N",
                   help="flagged steps at most N unflagged steps apart form one alert (default 0)")
    p.add_argument("--min-length", type=int, default=1, metavar="N", help="drop alerts shorter than N steps")


def _add_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-key-file", metavar="F",
                   help="file holding the model signing key (default: $ANOMALYFORGE_MODEL_KEY)")


def build_parser() -> argparse.ArgumentParser:
    from anomalyforge import __version__

    parser = argparse.ArgumentParser(prog="anomalyforge", description="Time-series anomaly detection toolkit.")
    parser.add_argument("--version", action="version", version=f"anomalyforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("detectors", help="list registered detectors").set_defaults(func=_cmd_list)
    sub.add_parser("generators", help="list registered anomaly generators").set_defaults(func=_cmd_list)

    p = sub.add_parser("detect", help="fit a detector and score a CSV/Parquet series")
    p.add_argument("series", help="CSV/Parquet: numeric columns are channels; timestamp and label columns optional")
    p.add_argument("--train", help="normal training series in the same layout (default: fit on SERIES)")
    _add_detector_option(p)
    p.add_argument("--param", action="append", metavar="K=V", help="detector parameter, repeatable")
    p.add_argument("--out", required=True, help="output folder for scores.csv and plot.png")
    p.add_argument("--fill", choices=["none", "ffill"], default="none", help="missing cells: refuse or fill")
    p.add_argument("--save-model", action="store_true", help="also write model.safetensors")
    _add_alert_options(p)
    p.add_argument("--log-score", action="store_true", help="logarithmic score axis in plot.png")
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("fit", help="fit a detector on a CSV/Parquet training file and save it")
    p.add_argument("train", help="CSV/Parquet: numeric columns are channels; timestamp and label columns optional")
    _add_detector_option(p)
    p.add_argument("--param", action="append", metavar="K=V", help="detector parameter, repeatable")
    p.add_argument("--fill", choices=["none", "ffill"], default="none", help="missing cells: refuse or fill")
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    p.add_argument("--sign", action="store_true",
                   help="sign the model (HMAC-SHA256; key from $ANOMALYFORGE_MODEL_KEY or --model-key-file)")
    _add_key_option(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("sign", help="sign model files so that `serve` (and load_model(key=...)) accepts them")
    p.add_argument("models", nargs="+", help="model files written by `anomalyforge fit`")
    _add_key_option(p)
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("serve", help="HTTP scoring service over a folder of signed models (FastAPI + uvicorn)")
    p.add_argument("--models", required=True, help="folder of signed model files (NAME.safetensors)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token-file", help="file holding the bearer token (default: $ANOMALYFORGE_TOKEN)")
    _add_key_option(p)
    p.add_argument("--state", default="anomalyforge-state",
                   help="folder of the stream state database (SQLite, WAL); default ./anomalyforge-state")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body accepted (default 8 MB)")
    p.add_argument("--max-streams", type=int, default=256, help="open streams at most (default 256)")
    p.add_argument("--public-docs", action="store_true",
                   help="serve /docs and /openapi.json without the token (they show the API, no data)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("score", help="score a CSV/Parquet file with a model saved by fit")
    p.add_argument("model", help="model file written by `anomalyforge fit`")
    p.add_argument("series", help="file with the channels the model was fitted on (any column order)")
    p.add_argument("--out", required=True, help="output folder for scores.csv, intervals.csv and plot.png")
    p.add_argument("--fill", choices=["none", "ffill"], help="missing cells (default: the option used at fit)")
    _add_alert_options(p)
    p.add_argument("--log-score", action="store_true", help="logarithmic score axis in plot.png")
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON summary on stdout")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("stream", help="score CSV rows as they arrive; one JSON line per step and per alert")
    p.add_argument("model", help="model file written by `anomalyforge fit`")
    p.add_argument("source", nargs="?", default="-", help="CSV file (with its header line), or - for stdin")
    p.add_argument("--follow", action="store_true", help="keep reading the file as it grows, like tail -f")
    p.add_argument("--idle-timeout", type=float, metavar="S",
                   help="stop after S seconds without new rows (default: never while following or on stdin)")
    p.add_argument("--poll", type=float, default=0.1, metavar="S", help="seconds between checks with --follow")
    p.add_argument("--fill", choices=["none", "ffill"], help="empty cells (default: the option used at fit)")
    _add_alert_options(p)
    p.set_defaults(func=_cmd_stream)

    p = sub.add_parser("datasets", help="list the benchmark datasets found under a data root")
    p.add_argument("--root", help="data root (default: $ANOMALYFORGE_DATA or ../shared/datasets)")
    p.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
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
    except (ValueError, FileNotFoundError, KeyError, TypeError, NotImplementedError, NotADirectoryError,
            FileExistsError, PermissionError, IsADirectoryError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.strerror}: {exc.filename}"
        print(f"anomalyforge {args.command}: error: {_in_cli_terms(str(message))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
