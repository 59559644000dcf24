"""Benchmark report: ``report.md`` and a self-contained ``report.html`` (images embedded as data URIs).

Contents: the mean over datasets, one table per dataset (mean VUS-PR, AUPR, AUROC, best-F1, affiliation
F1, PATE, median fit+score seconds, jobs and failures), a critical-difference diagram of VUS-PR ranks
across detectors (Friedman test, Nemenyi post-hoc, over the series every detector finished), and for each
dataset one plot of its first series with every detector's scores over the labels. best-F1 and
affiliation F1 use the best threshold on the test labels: they are oracle figures, said in the report.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from anomalyforge.bench.store import ResultStore  # noqa: E402

__all__ = ["Report", "build_report", "summary_tables", "format_text_table"]

SHOWN = {
    "vus_pr": "VUS-PR",
    "aupr": "AUPR",
    "auroc": "AUROC",
    "best_f1": "best-F1",
    "affiliation_f1": "Aff-F1",
    "pate": "PATE",
    "seconds": "time s",
}


@dataclass
class Report:
    markdown: Path
    html: Path
    table: str
    images: list[Path]


def summary_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(mean over datasets, {dataset: per-detector table}) from the store's rows."""
    ok = frame[frame.status == "ok"].copy()
    ok["seconds"] = ok.fit_seconds + ok.score_seconds
    per_dataset: dict[str, pd.DataFrame] = {}
    for dataset, rows in frame.groupby("dataset"):
        good = ok[ok.dataset == dataset]
        table = good.groupby("detector")[[c for c in SHOWN if c != "seconds"]].mean()
        table["seconds"] = good.groupby("detector")["seconds"].median()
        counts = rows.groupby("detector").status.agg(jobs="count", failed=lambda s: int((s != "ok").sum()))
        table = counts.join(table, how="left")
        per_dataset[str(dataset)] = table.sort_values("vus_pr", ascending=False)
    if per_dataset:
        stacked = pd.concat(per_dataset.values(), keys=per_dataset.keys(), names=["dataset", "detector"])
        overall = stacked.groupby("detector")[list(SHOWN)].mean()
        overall.insert(0, "datasets", stacked.groupby("detector").vus_pr.count())
        overall = overall.sort_values("vus_pr", ascending=False)
    else:
        overall = pd.DataFrame(columns=list(SHOWN))
    return overall, per_dataset


COUNTS = ("datasets", "jobs", "failed")


def _fmt(value: object, column: str = "") -> str:
    if column in COUNTS and isinstance(value, int | float | np.number) and not np.isnan(value):
        return str(int(value))  # iterrows upcasts a mixed row to float
    if isinstance(value, float | np.floating):
        return "–" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SHOWN or c in COUNTS]


def format_text_table(table: pd.DataFrame) -> str:
    """A fixed-width text table (detector rows) for the terminal."""
    cols = _columns(table)
    head = f"{'detector':<14}" + "".join(f"{SHOWN.get(c, c):>9}" for c in cols)
    lines = [head, "-" * len(head)]
    lines += [f"{str(name):<14}" + "".join(f"{_fmt(row[c], c):>9}" for c in cols) for name, row in table.iterrows()]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    cols = _columns(table)
    lines = ["| detector | " + " | ".join(SHOWN.get(c, c) for c in cols) + " |"]
    lines.append("|---|" + "---:|" * len(cols))
    lines += [f"| {name} | " + " | ".join(_fmt(row[c], c) for c in cols) + " |" for name, row in table.iterrows()]
    return "\n".join(lines)


def _html_table(table: pd.DataFrame) -> str:
    cols = _columns(table)
    head = "".join(f"<th>{html.escape(SHOWN.get(c, c))}</th>" for c in cols)
    body = "".join(
        f"<tr><td>{html.escape(str(name))}</td>" + "".join(f"<td>{_fmt(row[c], c)}</td>" for c in cols) + "</tr>"
        for name, row in table.iterrows()
    )
    return f"<table><thead><tr><th>detector</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def critical_difference(frame: pd.DataFrame, path: Path, metric: str = "vus_pr") -> Path | None:
    """CD diagram of ``metric`` ranks over the series every detector finished; None if too few."""
    import scikit_posthocs as sp

    ok = frame[frame.status == "ok"]
    wide = ok.groupby(["series", "detector"])[metric].mean().unstack().dropna()
    if wide.shape[1] < 3 or wide.shape[0] < 3:
        return None
    ranks = wide.rank(axis=1, ascending=False).mean()
    pvalues = sp.posthoc_nemenyi_friedman(wide.to_numpy())
    pvalues.index = pvalues.columns = wide.columns
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.35 * wide.shape[1]))
    sp.critical_difference_diagram(ranks, pvalues, ax=ax)
    ax.set_title(f"Mean rank by {SHOWN.get(metric, metric)} over {wide.shape[0]} series (Nemenyi, alpha 0.05)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def dataset_plots(frame: pd.DataFrame, scores_dir: Path, out: Path, data_root: str | None) -> list[Path]:
    """One plot per dataset: its first series with every detector's (kept) scores over the labels."""
    from anomalyforge.apps.plotting import plot_scores
    from anomalyforge.datasets import load_series

    paths = []
    for dataset in sorted(frame.dataset.unique()):
        folder = scores_dir / dataset
        files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
        if not files:
            continue
        series = sorted(frame[frame.dataset == dataset].series.unique())[0]
        data = load_series(dataset, series, data_root)
        scores = {f.stem: np.load(f) for f in files if len(np.load(f, mmap_mode="r")) == len(data.test)}
        if scores:
            paths.append(
                plot_scores(data.test, scores, out / f"plot_{dataset}.png", labels=data.labels, title=series)
            )
    return paths


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def build_report(out_dir: str | Path, data_root: str | None = None, title: str = "anomalyforge benchmark") -> Report:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` from its ``results.sqlite``."""
    out = Path(out_dir)
    frame = ResultStore(out / "results.sqlite").frame()
    overall, per_dataset = summary_tables(frame)
    cd = critical_difference(frame, out / "critical_difference.png") if len(frame) else None
    plots = dataset_plots(frame, out / "scores", out, data_root) if len(frame) else []
    n_fail = int((frame.status != "ok").sum()) if len(frame) else 0
    note = (
        "Point-wise metrics, one score per test step, no point adjustment. VUS-PR is the headline. "
        "best-F1 and affiliation F1 use the best threshold on the test labels (oracle figures). "
        "Time is the median fit + score seconds per series."
    )
    md = [f"# {title}", "", note, "", f"{len(frame)} jobs, {n_fail} failed.", "", "## Mean over datasets", ""]
    md += [_markdown_table(overall), ""]
    parts_html = [f"<h2>Mean over datasets</h2>{_html_table(overall)}"]
    if cd is not None:
        md += ["## Critical-difference diagram", "", f"![critical difference]({cd.name})", ""]
        parts_html.append(f'<h2>Critical-difference diagram</h2><img alt="critical difference" src="{_data_uri(cd)}">')
    plot_by_dataset = {p.stem.removeprefix("plot_"): p for p in plots}
    for dataset, table in per_dataset.items():
        md += [f"## {dataset}", "", _markdown_table(table), ""]
        section = f"<h2>{html.escape(dataset)}</h2>{_html_table(table)}"
        if dataset in plot_by_dataset:
            p = plot_by_dataset[dataset]
            md += [f"![{dataset}]({p.name})", ""]
            section += f'<img alt="{html.escape(dataset)} scores" src="{_data_uri(p)}">'
        parts_html.append(section)
    failures = frame[frame.status != "ok"] if len(frame) else frame
    if len(failures):
        lines = [f"{r.detector} on {r.series}: {str(r.error).splitlines()[0]}" for r in failures.itertuples()]
        md += ["## Failed jobs", ""] + [f"- {line}" for line in lines]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        parts_html.append(f"<h2>Failed jobs</h2><ul>{items}</ul>")
    (out / "report.md").write_text("\n".join(md) + "\n")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%;display:block;margin:1em 0}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(note)}</p><p>{len(frame)} jobs, {n_fail} failed.</p>
{"".join(parts_html)}
<script>window.addEventListener("load",function(){{var i=document.images,n=0;
for(var k=0;k<i.length;k++){{if(i[k].complete&&i[k].naturalWidth>0)n++;}}
document.body.setAttribute("data-images-rendered",n+"/"+i.length);}});</script>
</body></html>
"""
    (out / "report.html").write_text(page)
    text = format_text_table(overall)
    for dataset, table in per_dataset.items():
        text += f"\n\n{dataset}\n" + format_text_table(table)
    images = [*plots, *([cd] if cd else [])]
    return Report(markdown=out / "report.md", html=out / "report.html", table=text, images=images)
