"""Benchmark report: ``report.md`` and a self-contained ``report.html`` (images embedded as data URIs).

Contents: the mean over datasets (jobs, failed jobs, budget-cut jobs, mean VUS-PR, AUPR, AUROC, best-F1,
affiliation F1, PATE, median fit+score seconds), the spread of VUS-PR across series and seeds, a
critical-difference diagram of VUS-PR ranks (Friedman test, Nemenyi post-hoc, over the series every
detector finished) with a caveat when too few series make it weak, one table per dataset with a plot of its
first series, a per-series table, how training ended, each detector's parameters, the versions and commits
that produced the rows, and the failed jobs. A failed job counts as the worst score (0) wherever detectors
are ranked by mean (see ``anomalyforge.bench.tables``). best-F1 and affiliation F1 use the best threshold on
the test labels: they are oracle figures, said in the report.
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
from anomalyforge.bench.tables import (  # noqa: E402
    BUDGET_MARK,
    FAILED_MARK,
    parameter_sets,
    per_series_table,
    provenance_table,
    spread_table,
    summary_tables,
    training_table,
)

__all__ = ["Report", "build_report", "summary_tables", "format_text_table", "critical_difference", "cd_caveat"]

SHOWN = {
    "vus_pr": "VUS-PR",
    "aupr": "AUPR",
    "auroc": "AUROC",
    "best_f1": "best-F1",
    "affiliation_f1": "Aff-F1",
    "pate": "PATE",
    "seconds": "time s",
}
COUNTS = ("datasets", "jobs", "failed", "budget", "series", "seeds")
CD_MIN_SERIES = 10  # below this many series the Friedman / Nemenyi test is too weak to rely on
CD_MIN_DETECTORS = 3  # the Friedman test compares at least 3 detectors

NOTE = (
    "Point-wise metrics, one score per test step, no point adjustment. VUS-PR is the headline. "
    "best-F1 and affiliation F1 use the best threshold on the test labels (oracle figures). "
    "Time is the median fit + score seconds per series, over finished jobs. "
    "Ranking: a failed job counts as the worst score (0) on every metric in the dataset, overall and spread "
    "tables, so a detector that fails on hard series does not rank higher for it. "
    f"'budget' counts finished jobs whose training a wall-time budget cut ({BUDGET_MARK} in the per-series "
    f"table, {FAILED_MARK}n: n seeds failed)."
)


@dataclass
class Report:
    markdown: Path
    html: Path
    table: str
    images: list[Path]


def _fmt(value: object, column: str = "") -> str:
    if column in COUNTS and isinstance(value, int | float | np.number) and not np.isnan(value):
        return str(int(value))  # iterrows upcasts a mixed row to float
    if isinstance(value, float | np.floating):
        return "–" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SHOWN or c in COUNTS]


def _grid(table: pd.DataFrame, index: str = "detector", columns: list[str] | None = None) -> tuple[list, list]:
    """(header, rows of text) of a table whose index names the rows."""
    columns = list(table.columns) if columns is None else columns
    header = [index, *(SHOWN.get(c, str(c)) for c in columns)]
    rows = [[str(name), *(_fmt(row[c], c) for c in columns)] for name, row in table.iterrows()]
    return header, rows


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def format_text_table(table: pd.DataFrame) -> str:
    """A fixed-width text table (detector rows) for the terminal."""
    cols = _columns(table)
    head = f"{'detector':<14}" + "".join(f"{SHOWN.get(c, c):>9}" for c in cols)
    lines = [head, "-" * len(head)]
    lines += [f"{str(name):<14}" + "".join(f"{_fmt(row[c], c):>9}" for c in cols) for name, row in table.iterrows()]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    return _md(*_grid(table, columns=_columns(table)))


def _html_table(table: pd.DataFrame) -> str:
    return _html(*_grid(table, columns=_columns(table)))


def _cd_matrix(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Series x detector ``metric`` (mean over seeds) over the series every detector finished."""
    ok = frame[frame.status == "ok"]
    return ok.groupby(["series", "detector"])[metric].mean().unstack().dropna()


def critical_difference(frame: pd.DataFrame, path: Path, metric: str = "vus_pr") -> Path | None:
    """CD diagram of ``metric`` ranks over the series every detector finished; None if too few."""
    import scikit_posthocs as sp

    wide = _cd_matrix(frame, metric)
    if wide.shape[1] < CD_MIN_DETECTORS or wide.shape[0] < 3:
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


def cd_caveat(frame: pd.DataFrame, drawn: bool, metric: str = "vus_pr") -> str | None:
    """What the critical-difference diagram can be trusted for, or why there is none; None when it is fine.

    The threshold: fewer than ``CD_MIN_SERIES`` (10) series that every detector finished, or fewer than
    ``CD_MIN_DETECTORS`` (3) detectors, make the Friedman / Nemenyi test too weak to rely on.
    """
    wide = _cd_matrix(frame, metric)
    n_series, n_detectors = wide.shape
    all_series = frame.series.nunique()
    dropped = f" ({all_series - n_series} of {all_series} series left out: a detector failed there)" if (
        n_series < all_series) else ""
    if not drawn:
        return (
            f"No critical-difference diagram: the Friedman / Nemenyi test needs at least {CD_MIN_DETECTORS} "
            f"detectors and 3 series that every detector finished; there are {frame.detector.nunique()} "
            f"detectors and {n_series} such series{dropped}."
        )
    if n_series < CD_MIN_SERIES:
        return (
            f"Caveat: the critical-difference test ranks {n_detectors} detectors over only {n_series} series "
            f"that every detector finished{dropped}. With fewer than {CD_MIN_SERIES} series the Friedman / "
            "Nemenyi test has little power and a wide critical difference: read the diagram as indicative, "
            "not as evidence that detectors differ or tie."
        )
    return f"Ranks over the {n_series} series every detector finished{dropped}." if dropped else None


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


class _Page:
    """The report's sections, written to Markdown and HTML side by side."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, title: str) -> None:
        self.md += [f"## {title}", ""]
        self.html.append(f"<h2>{html.escape(title)}</h2>")

    def text(self, text: str) -> None:
        self.md += [text, ""]
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.md += [_md(header, rows), ""]
        self.html.append(_html(header, rows))

    def image(self, alt: str, path: Path) -> None:
        self.md += [f"![{alt}]({path.name})", ""]
        self.html.append(f'<img alt="{html.escape(alt)}" src="{_data_uri(path)}">')

    def items(self, lines: list[str]) -> None:
        self.md += [f"- {line}" for line in lines] + [""]
        self.html.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")


def build_report(out_dir: str | Path, data_root: str | None = None, title: str = "anomalyforge benchmark") -> Report:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` from its ``results.sqlite``.

    Detectors are ranked by mean scores in which a failed job counts as the worst score (0), so failing on
    hard series never lifts a detector; the critical-difference diagram ranks over the series every detector
    finished and carries a caveat below ``CD_MIN_SERIES`` series.
    """
    out = Path(out_dir)
    frame = ResultStore(out / "results.sqlite").frame()
    overall, per_dataset = summary_tables(frame)
    cd = critical_difference(frame, out / "critical_difference.png") if len(frame) else None
    plots = dataset_plots(frame, out / "scores", out, data_root) if len(frame) else []
    n_fail = int((frame.status != "ok").sum()) if len(frame) else 0
    n_budget = int(overall["budget"].sum()) if len(overall) else 0
    counts = f"{len(frame)} jobs, {n_fail} failed, {n_budget} cut by a time budget."
    page = _Page()
    page.heading("Mean over datasets")
    page.table(*_grid(overall, columns=_columns(overall)))
    if len(frame):
        page.heading("Spread of VUS-PR")
        seeds = " and across seeds (std over seeds on one series, averaged)" if frame.seed.nunique() > 1 else ""
        page.text(f"Across series (each the mean over seeds, failed = 0): std and interquartile range{seeds}.")
        page.table(*_grid(spread_table(frame)))
    caveat = cd_caveat(frame, cd is not None) if len(frame) else None
    if cd is not None or caveat:
        page.heading("Critical-difference diagram")
        if caveat:
            page.text(caveat)
        if cd is not None:
            page.image("critical difference", cd)
    plot_by_dataset = {p.stem.removeprefix("plot_"): p for p in plots}
    for dataset, table in per_dataset.items():
        page.heading(dataset)
        page.table(*_grid(table, columns=_columns(table)))
        if dataset in plot_by_dataset:
            page.image(f"{dataset} scores", plot_by_dataset[dataset])
    if len(frame):
        page.heading("VUS-PR per series")
        page.text(
            f"Mean over the seeds that finished. {BUDGET_MARK}: a time budget cut training; {FAILED_MARK}n: n seeds "
            "failed; failed: every seed failed; empty: not run."
        )
        page.table(*_grid(per_series_table(frame), index="series"))
        page.heading("How training ended")
        page.text("Finished jobs per detector and trained part; 'time budget' is a budget cut.")
        trained = training_table(frame)
        page.table(list(trained.columns), [[_fmt(v, c) for c, v in row.items()] for _, row in trained.iterrows()])
        page.heading("Detector parameters")
        page.text("Every parameter each job ran with (random_state is the job's seed, left out).")
        page.items([
            f"{r.detector} ({r.jobs} jobs): {r.params}" + ("" if r.full else " (given parameters only: older store)")
            for r in parameter_sets(frame).itertuples()
        ])
        page.heading("Versions and commits")
        prov = provenance_table(frame)
        page.table(list(prov.columns), [[_fmt(v, c) for c, v in row.items()] for _, row in prov.iterrows()])
    failures = frame[frame.status != "ok"] if len(frame) else frame
    if len(failures):
        page.heading("Failed jobs")
        page.items([f"{r.detector} on {r.series}: {str(r.error).splitlines()[0]}" for r in failures.itertuples()])
    md = [f"# {title}", "", NOTE, "", counts, "", *page.md]
    (out / "report.md").write_text("\n".join(md) + "\n")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%;display:block;margin:1em 0}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(NOTE)}</p><p>{html.escape(counts)}</p>
{"".join(page.html)}
<script>window.addEventListener("load",function(){{var i=document.images,n=0;
for(var k=0;k<i.length;k++){{if(i[k].complete&&i[k].naturalWidth>0)n++;}}
document.body.setAttribute("data-images-rendered",n+"/"+i.length);}});</script>
</body></html>
"""
    (out / "report.html").write_text(doc)
    text = format_text_table(overall)
    for dataset, table in per_dataset.items():
        text += f"\n\n{dataset}\n" + format_text_table(table)
    images = [*plots, *([cd] if cd else [])]
    return Report(markdown=out / "report.md", html=out / "report.html", table=text, images=images)
