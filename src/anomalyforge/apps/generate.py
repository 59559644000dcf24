"""Library side of ``anomalyforge generate``: forge anomalies for a benchmark series, or compare generators.

``generate_for_series`` fits a generator on the training part of a series, forges anomalies from normal
training windows and writes them (``anomalies.npz``) with a picture (``generated.png``).
``compare_generators`` scores several generators on one series with GenIAS's generation-quality metrics
(App. E): ARP against the real anomalies of the test part and EDI over regions of the representation
space shared by all generators, both in one 128-dim embedding fitted on the normal training windows
(by default fixed window summaries, ``"features"``; GenIAS's Deep SVDD, ``"svdd"``, collapses on one series).
Nothing is fitted on the test part: it only provides the real anomalous windows that ARP compares with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from anomalyforge.core.base import BaseGenerator, GeneratedAnomalies
from anomalyforge.core.registry import make_generator
from anomalyforge.core.windows import sliding_windows
from anomalyforge.metrics.generation import arp, edi, fit_regions, make_embedding

__all__ = ["generate_for_series", "compare_generators", "load_series_data", "anomalous_windows", "plot_projection"]


def load_series_data(dataset: str, series_name: str, data_root: str | Path | None = None) -> Any:
    """Load one benchmark series (``anomalyforge.datasets.load_series``); it must have a training part."""
    from anomalyforge.datasets import load_series

    data = load_series(dataset, series_name, data_root)
    if data.train is None:
        raise ValueError(
            f"{data.name} has no training part, and generators learn from normal training data; "
            "choose a dataset with a train split (or a loader option such as train_fraction)"
        )
    return data


def _train_windows(train: np.ndarray, window: int, stride: int) -> np.ndarray:
    if train.shape[0] < window:
        raise ValueError(
            f"the training part has {train.shape[0]} steps, shorter than the window ({window}); pass a smaller window"
        )
    view, _ = sliding_windows(train, window, stride)
    return view


def anomalous_windows(
    test: np.ndarray, labels: np.ndarray, window: int, stride: int = 1, max_windows: int | None = 500, seed: int = 0
) -> np.ndarray:
    """Windows of the test part that contain at least one labelled anomalous step.

    Args:
        test: (n_test, C) test part.
        labels: (n_test,) 0/1 labels.
        window, stride: window length and step between window starts.
        max_windows: keep a random subset of at most this many (None: all).
        seed: seed of that subset.

    Returns:
        (n, window, C) float64 copy.

    Raises:
        ValueError: when no window contains an anomaly.
    """
    view, starts = sliding_windows(test, window, stride)
    csum = np.concatenate(([0], np.cumsum(np.asarray(labels) != 0)))
    keep = np.flatnonzero(csum[starts + window] - csum[starts] > 0)
    if len(keep) == 0:
        raise ValueError("the test part has no labelled anomaly, so there are no real anomalies to compare with")
    if max_windows is not None and len(keep) > max_windows:
        keep = np.sort(np.random.default_rng(seed).choice(keep, max_windows, replace=False))
    return np.array(view[keep], dtype=np.float64)


def _fit_and_generate(
    name: str, params: dict[str, Any] | None, train: np.ndarray, normal: np.ndarray, window: int, n: int, seed: int
) -> tuple[BaseGenerator, GeneratedAnomalies, np.ndarray, float, float]:
    """Fit ``name`` on ``train`` and forge ``n`` anomalies from distinct random windows of ``normal``."""
    params = dict(params or {})
    generator = make_generator(name, **params)
    own = generator.get_params()
    if "window" in own and "window" not in params:
        generator.set_params(window=window)
    if "random_state" in own and "random_state" not in params:
        generator.set_params(random_state=seed)  # learned generators: reproducible comparisons
    t0 = time.perf_counter()
    generator.fit(train)
    fit_seconds = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(normal), size=min(n, len(normal)), replace=False))
    sources = np.array(normal[chosen], dtype=np.float64)
    per_window = int(np.ceil(n / len(sources)))
    t0 = time.perf_counter()
    out = generator.generate(sources, n_per_window=per_window, random_state=seed)
    generate_seconds = time.perf_counter() - t0
    if len(out.source) > n:
        out = GeneratedAnomalies(out.anomalies[:n], out.patched[:n], out.mask[:n], out.source[:n])
    return generator, out, sources, fit_seconds, generate_seconds


def generate_for_series(
    generator_name: str,
    dataset: str,
    series_name: str,
    out_dir: str | Path,
    data_root: str | Path | None = None,
    window: int = 200,
    n: int = 200,
    params: dict[str, Any] | None = None,
    stride: int = 1,
    n_plot: int = 4,
    random_state: int = 0,
) -> dict[str, Path]:
    """Fit a generator on a series' training part and forge anomalies from its normal training windows.

    Args:
        generator_name: registered generator (``anomalyforge generators`` lists them).
        dataset, series_name: the series, e.g. ``"MSL"``, ``"C-1"``.
        out_dir: folder for the outputs (created).
        data_root: benchmark data folder (default: ``ANOMALYFORGE_DATA`` or ``../shared/datasets``).
        window: window length T (also given to generators that have a ``window`` parameter).
        n: number of anomalies to forge.
        params: generator parameters.
        stride: step between the training windows the sources are drawn from.
        n_plot: examples drawn in the picture.
        random_state: seed of source choice and generation (and of the generator's own ``random_state``
            parameter when it has one and ``params`` does not set it).

    Returns:
        ``{"anomalies": DIR/anomalies.npz, "plot": DIR/generated.png}``. The ``.npz`` holds ``anomalies``,
        ``patched``, ``mask`` (n, T, C), ``source`` (n,) and ``windows`` (the distinct source windows,
        indexed by ``source``), as documented in ``GeneratedAnomalies``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    data = load_series_data(dataset, series_name, data_root)
    normal = _train_windows(data.train, window, stride)
    _, out, sources, _, _ = _fit_and_generate(generator_name, params, data.train, normal, window, n, random_state)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / "anomalies.npz"
    np.savez_compressed(
        npz, anomalies=out.anomalies, patched=out.patched, mask=out.mask, source=out.source, windows=sources
    )
    png = out_dir / "generated.png"
    plot_generated(sources, out, png, n_plot=n_plot, title=f"{generator_name} on {data.name}")
    return {"anomalies": npz, "plot": png}


def plot_generated(
    windows: np.ndarray, out: GeneratedAnomalies, path: str | Path, n_plot: int = 4, title: str = ""
) -> Path:
    """Draw ``n_plot`` source windows (left) beside their generated versions (right), channels overlaid.

    Changed cells are red dots and the changed time steps are shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = max(1, min(n_plot, len(out.source)))
    fig, axes = plt.subplots(k, 2, figsize=(12, 2.2 * k), sharex=True, squeeze=False)
    t = np.arange(out.patched.shape[1])
    for row in range(k):
        src, new, mask = windows[out.source[row]], out.patched[row], out.mask[row]
        for col, values in enumerate((src, new)):
            ax = axes[row, col]
            ax.plot(t, values, linewidth=0.7, alpha=0.8)
            steps = np.flatnonzero(mask.any(axis=1))
            if col == 1 and len(steps):
                ax.axvspan(steps[0], steps[-1], color="red", alpha=0.08)
                r, c = np.nonzero(mask)
                ax.scatter(r, new[r, c], s=4, color="red", zorder=3)
        axes[row, 0].set_ylabel(f"#{row}")
    axes[0, 0].set_title("normal window")
    axes[0, 1].set_title("generated (changed cells in red)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def compare_generators(
    names: list[str],
    dataset: str,
    series_name: str,
    data_root: str | Path | None = None,
    window: int = 200,
    n: int = 500,
    params: dict[str, dict[str, Any]] | None = None,
    stride: int = 1,
    n_regions: int = 10,
    max_real: int = 500,
    embedding: str = "features",
    embedding_params: dict[str, Any] | None = None,
    include_normal: bool = True,
    projection_png: str | Path | None = None,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """ARP and EDI of several generators on one series, in one shared embedding (GenIAS App. E).

    The embedding (``metrics.generation.make_embedding``) is fitted on the normal training windows;
    every generator is fitted on the training part and forges ``n`` anomalies from random training
    windows; ARP compares them with the real anomalous windows of the test part (windows containing a
    labelled step, at most ``max_real``); EDI uses ``n_regions`` K-means regions fitted on the union of
    all generators' anomalies (V_all).

    Args:
        names: registered generator names.
        dataset, series_name, data_root: the series (see ``generate_for_series``).
        window, n, stride: window length, anomalies per generator, stride of the windows.
        params: per-generator parameters, ``{"genias": {"epochs": 50}}``.
        n_regions: K of EDI.
        max_real: most real anomalous windows used.
        embedding: ``"features"`` (``WindowFeatureEmbedding``, fixed window summaries) or ``"svdd"``
            (``DeepSVDDEmbedding``, GenIAS's choice, which collapses on one series' windows:
            bench/bench_arp_embedding.py); both are scaled to unit normal spread.
        embedding_params: parameters of that embedding.
        include_normal: add a reference row ``"(normal windows)"``: the unchanged source windows scored as
            if they were generated anomalies, the level a generator must beat to be more realistic than
            no injection at all.
        projection_png: when given, draw the embedding's 2-D PCA projection there (``plot_projection``):
            normal training windows, the real anomalies and each generator's forgeries.
        random_state: seed of everything.

    Returns:
        One dict per generator: ``generator``, ``arp``, ``edi`` (Eq. 27, natural log), ``edi_norm``
        (divided by log K), ``fit_seconds``, ``generate_seconds``, ``n_generated``, ``n_real`` and
        ``embedding`` (its name) and ``embedding_stopped_by`` (``"epochs"`` unless the Deep SVDD time
        budget cut its training; ``"not trained"`` for the feature embedding).
    """
    if not names:
        raise ValueError("give at least one generator name to compare")
    params = params or {}
    data = load_series_data(dataset, series_name, data_root)
    normal = _train_windows(data.train, window, stride)
    real = anomalous_windows(data.test, data.labels, window, stride, max_real, random_state)
    space = make_embedding(embedding, **{"random_state": random_state, **(embedding_params or {})})
    space.fit(np.asarray(normal))
    v_real = space.transform(real)
    report = getattr(space, "train_report_", {"stopped_by": "not trained"})
    results = []
    for name in names:
        _, out, sources, fit_s, gen_s = _fit_and_generate(
            name, params.get(name), data.train, normal, window, n, random_state
        )
        results.append((name, space.transform(out.patched), fit_s, gen_s))
        if include_normal and len(results) == 1:
            v_normal = space.transform(sources[out.source])
    regions = fit_regions(np.concatenate([v for _, v, _, _ in results]), n_regions, random_state)
    if projection_png is not None:
        v_train = space.transform(normal[np.linspace(0, len(normal) - 1, min(len(normal), 500)).astype(int)])
        plot_projection(
            v_train, v_real, {name: v for name, v, _, _ in results}, projection_png, title=f"{data.name} ({embedding})"
        )
    if include_normal:
        results.append(("(normal windows)", v_normal, 0.0, 0.0))
    rows = []
    for name, v_gen, fit_s, gen_s in results:
        rows.append(
            {
                "generator": name,
                "arp": arp(v_real, v_gen),
                "edi": edi(v_gen, regions=regions),
                "edi_norm": edi(v_gen, regions=regions, normalize=True),
                "fit_seconds": round(fit_s, 3),
                "generate_seconds": round(gen_s, 3),
                "n_generated": len(v_gen),
                "n_real": len(v_real),
                "embedding": embedding,
                "embedding_stopped_by": report["stopped_by"],
            }
        )
    return rows


def plot_projection(
    normal: np.ndarray,
    real: np.ndarray,
    generated: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
) -> Path:
    """Scatter representations (n, d) in the first two principal axes of the normal ones.

    The axes are fitted on ``normal`` alone (training windows), so every generator is drawn in the same
    frame: normal windows grey, real anomalies black crosses, one panel per generator with its forgeries
    over the same background (at most 400 points each, evenly chosen).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(normal)

    def sub(v: np.ndarray) -> np.ndarray:
        keep = np.linspace(0, len(v) - 1, min(len(v), 400)).astype(int)
        return pca.transform(v[keep])

    bg, rl = sub(normal), sub(real)
    k = max(1, len(generated))
    fig, axes = plt.subplots(1, k, figsize=(3.2 * k, 3.2), sharex=True, sharey=True, squeeze=False)
    for ax, (name, v) in zip(axes[0], generated.items(), strict=False):
        g = sub(v)
        ax.scatter(bg[:, 0], bg[:, 1], s=4, color="0.75", label="normal (train)")
        ax.scatter(g[:, 0], g[:, 1], s=5, color="tab:red", alpha=0.6, label=name)
        ax.scatter(rl[:, 0], rl[:, 1], s=10, marker="x", color="black", linewidths=0.7, label="real anomalies")
        ax.set_title(name, fontsize=9)
    axes[0, 0].legend(fontsize=6, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
