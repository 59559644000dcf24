"""Exact k-nearest-neighbour search on feature rows: neighbour mining and kNN distance scores.

Both are exact searches (Euclidean distances computed in row chunks with ``torch.cdist``), not the public
CARLA code's ranking of all points by their distance to one random vector. ``feasible_exclusion`` sizes the
zone of overlapping windows a training window's kNN score must skip.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mine_neighbours", "knn_distance", "feasible_exclusion"]


@torch.no_grad()
def mine_neighbours(
    features: np.ndarray | torch.Tensor,
    k: int,
    rows: np.ndarray | None = None,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest and k furthest neighbours (Euclidean) of some rows of a pool, each row itself excluded.

    Args:
        features: (n, d) embedding of the pool.
        k: neighbours per row; must be <= n - 1.
        rows: (m,) indices of the rows to mine for (default: every row).
        chunk: rows per distance block (memory is ``chunk * n`` floats).

    Returns:
        ``(nearest, furthest)``: int64 arrays of shape (m, k) of pool indices; ``nearest[i]`` sorted from the
        closest, ``furthest[i]`` from the farthest.
    """
    x = torch.as_tensor(features).to(torch.float64)
    if x.ndim != 2:
        raise ValueError(f"features must have shape (n, d), got {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= k <= n - 1:
        raise ValueError(f"k={k} neighbours need at least k + 1 items, the pool has {n}; lower n_neighbors")
    rows_t = torch.arange(n) if rows is None else torch.as_tensor(np.asarray(rows), dtype=torch.int64)
    m = len(rows_t)
    nearest = np.empty((m, k), dtype=np.int64)
    furthest = np.empty((m, k), dtype=np.int64)
    for lo in range(0, m, chunk):
        own = rows_t[lo : lo + chunk]
        d = torch.cdist(x[own], x)  # (rows, n)
        local = torch.arange(len(own))
        d[local, own] = float("inf")  # never your own nearest neighbour
        nearest[lo : lo + len(own)] = torch.topk(d, k, dim=1, largest=False).indices.numpy()
        d[local, own] = -float("inf")  # nor your own furthest
        furthest[lo : lo + len(own)] = torch.topk(d, k, dim=1, largest=True).indices.numpy()
    return nearest, furthest


def feasible_exclusion(starts: np.ndarray, k: int, exclusion: int) -> int:
    """The largest exclusion zone (at most ``exclusion`` steps) that leaves every window ``k`` references.

    With ``exclusion = window`` a training window is compared only with windows sharing none of its steps;
    on a training series shorter than about two windows there are none, and the zone must shrink (down to
    1: only the window itself is left out). Raises when even that leaves fewer than ``k`` references.
    """
    s = np.sort(np.asarray(starts, dtype=np.int64))
    if len(s) < k + 1:
        raise ValueError(
            f"{len(s)} training windows give fewer than k={k} neighbours besides each window itself; "
            "use a longer training series, a shorter window or a smaller n_neighbors"
        )

    def enough(e: int) -> bool:
        before = np.searchsorted(s, s - e, side="right")  # references starting at least e steps earlier
        after = len(s) - np.searchsorted(s, s + e, side="left")  # ... at least e steps later
        return bool((before + after).min() >= k)

    lo, hi = 1, max(1, int(exclusion))  # enough(1) holds: distinct starts, at least k others
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if enough(mid) else (lo, mid - 1)
    return lo


@torch.no_grad()
def knn_distance(
    queries: np.ndarray,
    reference: np.ndarray,
    k: int,
    query_starts: np.ndarray | None = None,
    reference_starts: np.ndarray | None = None,
    exclusion: int = 0,
    chunk: int = 512,
) -> np.ndarray:
    """Mean Euclidean distance of each query to its k nearest reference rows.

    Args:
        queries: (m, d) features.
        reference: (n, d) features of normal (training) windows.
        k: neighbours averaged.
        query_starts, reference_starts: (m,) and (n,) window starts, needed with ``exclusion``.
        exclusion: a reference whose start is less than ``exclusion`` steps from the query's is ignored;
            with queries taken from the training series and ``exclusion = window`` a training window is
            never compared with itself or with a window sharing any of its steps (honest training scores).
        chunk: queries per distance block.

    Returns:
        float64 (m,).
    """
    q = torch.as_tensor(np.asarray(queries), dtype=torch.float64)  # float32 cdist loses small distances
    ref = torch.as_tensor(np.asarray(reference), dtype=torch.float64)
    if not 1 <= k <= ref.shape[0]:
        raise ValueError(f"k={k} neighbours need at least {k} reference rows, got {ref.shape[0]}")
    if exclusion:
        qs = torch.as_tensor(np.asarray(query_starts), dtype=torch.int64)
        rs = torch.as_tensor(np.asarray(reference_starts), dtype=torch.int64)
    out = np.empty(q.shape[0])
    for lo in range(0, q.shape[0], chunk):
        d = torch.cdist(q[lo : lo + chunk], ref)
        if exclusion:
            d[(qs[lo : lo + chunk, None] - rs[None, :]).abs() < exclusion] = float("inf")
        out[lo : lo + chunk] = torch.topk(d, k, dim=1, largest=False).values.mean(1).numpy()
    if not np.isfinite(out).all():
        raise ValueError(f"fewer than k={k} reference windows lie outside the exclusion zone; lower n_neighbors")
    return out
