"""The unsupervised random forest's pieces as pure functions: synthetic samples, leaf codes, proximity,
and the split features that separate two samples.

- ``uniform_synthetic``: samples drawn uniformly and independently per feature within the per-feature
  minimum and maximum of the real samples; each feature is missing (NaN) in the same share of synthetic
  samples as of real ones, so missingness alone never tells real from synthetic.
- ``ForestLayout``: the fitted trees' nodes numbered globally (tree ``t``'s nodes are
  ``offsets[t] .. offsets[t + 1] - 1``) with each node's parent, depth and split feature, as plain arrays.
- ``proximity``: the share of trees in which two samples fall in the same leaf, computed as a product of
  sparse one-hot leaf codes, so a (b, n_ref) block costs the pairs that share a leaf, not b * n_ref * trees.
- ``mean_proximity``: the mean proximity to a whole reference set from per-node reference counts,
  ``O(n_trees)`` per sample whatever the reference set's size.
- ``divergence_features``: for two leaves of one tree, the split feature of their lowest common ancestor,
  i.e. the feature of the split that sends the two samples apart; over the trees this decomposes the
  proximity distance ``1 - proximity`` exactly into per-feature shares.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.ensemble import RandomForestClassifier

__all__ = [
    "uniform_synthetic",
    "ForestLayout",
    "forest_layout",
    "leaf_codes",
    "subtree_counts",
    "proximity",
    "mean_proximity",
    "divergence_features",
    "separating_splits",
]


def uniform_synthetic(real: np.ndarray, n: int, rng: np.random.Generator, margin: float = 0.0) -> np.ndarray:
    """``n`` samples uniform within the per-feature bounds of ``real`` (m, d), NaN where ``real`` has them.

    Args:
        real: (m, d) real samples, NaN allowed (a feature missing in every sample is drawn as 0).
        n: number of synthetic samples.
        rng: the random generator (the same seed gives the same samples).
        margin: the bounds widened by this share of each feature's range on both sides (0: the data's
            own minimum and maximum).

    Returns:
        (n, d) float64 synthetic samples; feature j is NaN in about the share of ``real`` rows where it is.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an entirely missing feature: its bounds are NaN
        missing = np.isnan(real)
        any_missing = bool(missing.any())
        lo = np.nanmin(real, axis=0) if any_missing else real.min(axis=0)
        hi = np.nanmax(real, axis=0) if any_missing else real.max(axis=0)
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    lo, hi = lo - margin * (hi - lo), hi + margin * (hi - lo)
    out = lo + (hi - lo) * rng.random((n, real.shape[1]))
    if any_missing:
        out[rng.random(out.shape) < missing.mean(axis=0)] = np.nan
    return out


@dataclass(frozen=True)
class ForestLayout:
    """The nodes of a fitted forest numbered globally, as arrays.

    Attributes:
        offsets: (n_trees + 1,) first global node id of each tree (and the total at the end).
        parent: (n_nodes,) global id of each node's parent (the root is its own parent).
        depth: (n_nodes,) depth of each node (roots 0).
        feature: (n_nodes,) split feature of each internal node, -1 at leaves.
    """

    offsets: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    feature: np.ndarray

    @property
    def n_trees(self) -> int:
        return len(self.offsets) - 1


def forest_layout(forest: RandomForestClassifier) -> ForestLayout:
    """The global node numbering of a fitted forest with parents, depths and split features."""
    counts = [est.tree_.node_count for est in forest.estimators_]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    parent = np.empty(offsets[-1], dtype=np.int64)
    depth = np.zeros(offsets[-1], dtype=np.int64)
    feature = np.empty(offsets[-1], dtype=np.int64)
    for t, est in enumerate(forest.estimators_):
        tree, base = est.tree_, offsets[t]
        left, right = tree.children_left, tree.children_right
        own_parent = np.arange(tree.node_count, dtype=np.int64)  # the root stays its own parent
        internal = np.flatnonzero(left >= 0)
        own_parent[left[internal]] = internal
        own_parent[right[internal]] = internal
        # node ids are assigned depth-first, so a parent's id is below its children's: one pass in id order
        own_depth = np.zeros(tree.node_count, dtype=np.int64)
        for node in internal:
            own_depth[left[node]] = own_depth[right[node]] = own_depth[node] + 1
        parent[base : offsets[t + 1]] = own_parent + base
        depth[base : offsets[t + 1]] = own_depth
        feature[base : offsets[t + 1]] = np.where(left >= 0, tree.feature, -1)
    return ForestLayout(offsets=offsets, parent=parent, depth=depth, feature=feature)


def leaf_codes(forest: RandomForestClassifier, X: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n, n_trees) global leaf ids of the rows of X (NaN allowed where the forest was fitted with it)."""
    return forest.apply(X).astype(np.int64) + offsets[:-1]


def subtree_counts(reference_codes: np.ndarray, layout: ForestLayout) -> np.ndarray:
    """(n_nodes,) how many references pass through each node, from their (r, n_trees) global leaf ids."""
    counts = np.bincount(reference_codes.ravel(), minlength=int(layout.offsets[-1])).astype(np.float64)
    for d in range(int(layout.depth.max()), 0, -1):  # children before parents, one depth level at a time
        nodes = np.flatnonzero(layout.depth == d)
        np.add.at(counts, layout.parent[nodes], counts[nodes])
    return counts


def mean_proximity(codes: np.ndarray, counts: np.ndarray, n_reference: int) -> np.ndarray:
    """(b,) mean proximity of samples with (b, n_trees) leaf ids to the ``n_reference`` references counted
    in ``counts`` (``subtree_counts``): the mean over trees of the share of references in the sample's leaf."""
    return counts[codes].mean(axis=1) / n_reference


def _one_hot(codes: np.ndarray, n_nodes: int) -> sparse.csr_matrix:
    n, t = codes.shape
    indptr = np.arange(0, n * t + 1, t, dtype=np.int64)
    return sparse.csr_matrix((np.ones(n * t, dtype=np.float32), codes.ravel(), indptr), shape=(n, n_nodes))


def proximity(codes: np.ndarray, reference_codes: np.ndarray, n_nodes: int) -> np.ndarray:
    """Forest proximity between samples and references: the share of trees where they share a leaf.

    Args:
        codes: (b, n_trees) global leaf ids of the samples.
        reference_codes: (r, n_trees) global leaf ids of the references.
        n_nodes: total node count of the forest.

    Returns:
        (b, r) float64 proximities in [0, 1].
    """
    shared = _one_hot(codes, n_nodes) @ _one_hot(reference_codes, n_nodes).T
    return shared.toarray().astype(np.float64) / codes.shape[1]


def divergence_features(a: np.ndarray, b: np.ndarray, layout: ForestLayout) -> np.ndarray:
    """The split feature separating leaf ``a`` from leaf ``b`` of the same tree, elementwise.

    Args:
        a, b: equal-shaped arrays of global leaf ids, each pair in one tree.
        layout: the forest's node layout.

    Returns:
        int64 array of the shape of ``a``: the split feature of the pair's lowest common ancestor, or -1
        where the two leaves are the same (the samples are not separated in that tree).
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    a, b = np.broadcast_to(a, shape).ravel(), np.broadcast_to(b, shape).ravel()  # ravel copies a broadcast
    a, b = a.copy(), b.copy()
    differ = a != b
    while True:
        active = np.flatnonzero(a != b)
        if active.size == 0:
            break
        da, db = layout.depth[a[active]], layout.depth[b[active]]
        up_a, up_b = active[da >= db], active[db >= da]
        a[up_a] = layout.parent[a[up_a]]
        b[up_b] = layout.parent[b[up_b]]
    return np.where(differ, layout.feature[a], -1).reshape(shape)


def separating_splits(codes: np.ndarray, counts: np.ndarray, layout: ForestLayout) -> tuple[np.ndarray, ...]:
    """Where the references leave each sample's path: per (sample, tree, ancestor), how many references the
    split at that ancestor sends the other way, and the split's feature.

    Summed over a sample's ancestors and trees and divided by ``n_trees * n_reference``, the counts give the
    sample's mean proximity distance ``1 - mean_proximity``; grouped by feature they split it exactly.

    Args:
        codes: (b, n_trees) global leaf ids.
        counts: (n_nodes,) references per node (``subtree_counts``).
        layout: the forest's node layout.

    Returns:
        ``(rows, features, separated)``: flat arrays, one entry per (sample, tree, ancestor) with at least one
        reference separated there: the sample's row in ``codes``, the split feature and the count.
    """
    cur = codes.copy()
    rows = np.broadcast_to(np.arange(len(codes))[:, None], codes.shape)
    out_rows, out_features, out_counts = [], [], []
    while True:
        up = layout.parent[cur]
        active = up != cur
        if not active.any():
            break
        separated = counts[up] - counts[cur]
        keep = active & (separated > 0)
        out_rows.append(rows[keep])
        out_features.append(layout.feature[up[keep]])
        out_counts.append(separated[keep])
        cur = np.where(active, up, cur)
    if not out_rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(out_rows), np.concatenate(out_features), np.concatenate(out_counts)
