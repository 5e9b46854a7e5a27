"""The exact silhouette (Euclidean), songscope's own kernel: scikit-learn's definition, about
six times faster on the seed's 15,626 songs (`bench/silhouette.py` measures both in one run;
`tests/evaluate/test_silhouette.py` checks equality with ``sklearn.metrics.silhouette_samples``).

Songs are sorted by cluster, squared distances come from matrix products in blocks of rows, and
one compiled pass sums each row's distances per cluster (contiguous after the sort, so it
vectorises). The k sweep's `silhouettes` shares one distance matrix across labelings.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

#: Silhouette is exact up to this many songs, else computed on a fixed-seed sample of this size.
SILHOUETTE_EXACT_MAX = 20_000
_ROWS = 128  # rows of the distance matrix held at once per thread (128 x 20k doubles: 20 MB)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False, inline="always")
def _distance_sum(dots, sq, a):  # pragma: no cover - compiled
    """Sum of the Euclidean distances from a row (``a = |x|^2``) to a run of songs, from their
    dot products with it and their squared norms."""
    total = 0.0
    for j in range(dots.size):
        total += np.sqrt(max(a + sq[j] - 2.0 * dots[j], 0.0))
    return total


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
def _cluster_distance_sums(dots, sq_rows, sq_all, bounds, out):  # pragma: no cover - compiled
    """For each row of a block (``dots``: its dot products with every song; songs sorted by
    cluster, cluster c in columns ``bounds[c]:bounds[c+1]``), the sum of its Euclidean distances
    to each cluster's songs, from ``|x|^2 + |y|^2 - 2 x.y``.

    Each cluster's run goes to `_distance_sum` as slices: written as one loop over
    ``range(bounds[c], bounds[c + 1])`` here, the same sum ran five times slower (the compiler
    did not vectorise it as well)."""
    rows = dots.shape[0]
    k = len(bounds) - 1
    for r in range(rows):
        for c in range(k):
            low, high = bounds[c], bounds[c + 1]
            out[r, c] = _distance_sum(dots[r, low:high], sq_all[low:high], sq_rows[r])


def silhouette_samples(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each song's silhouette (Euclidean), exactly as scikit-learn defines it (0 for a song
    alone in its cluster), about ten times faster: songs sorted by cluster, squared distances
    by matrix product in blocks of rows, and one compiled pass summing distances per cluster
    (contiguous after the sort, so it vectorises). Quadratic in songs: sample above ~50k.

    >>> X = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    >>> silhouette_samples(X, np.array([0, 0, 1, 1])).round(3).tolist()
    [0.9, 0.9, 0.9, 0.9]
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    clusters, codes = np.unique(labels, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    Xs, cs = np.ascontiguousarray(X[order]), codes[order]
    sizes = np.bincount(cs, minlength=len(clusters))
    bounds = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    sq = np.einsum("ij,ij->i", Xs, Xs)
    sums = np.empty((len(Xs), len(clusters)))
    spans = [(s, min(s + _ROWS, len(Xs))) for s in range(0, len(Xs), _ROWS)]

    def work(span: tuple[int, int]) -> None:
        s, e = span
        _cluster_distance_sums(Xs[s:e] @ Xs.T, sq[s:e], sq, bounds, sums[s:e])

    workers = min(os.cpu_count() or 1, len(spans))
    if workers > 1:
        from threadpoolctl import threadpool_limits

        # The blocks are already spread over the cores: BLAS threads on top of them only contend
        # (0.56 s against 0.33 s on the seed).
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, spans))
    else:
        for span in spans:
            work(span)
    out = np.empty(len(X))
    out[order] = _silhouette_values(sums, cs, sizes)
    return out


def _silhouette_values(sums: np.ndarray, codes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each song's silhouette from its distance sums to every cluster (songs by clusters), its
    cluster code and the clusters' sizes; 0 for a song alone in its cluster."""
    own = sizes[codes]
    rows = np.arange(len(codes))
    a = sums[rows, codes] / np.maximum(own - 1, 1)
    means = sums / sizes[None, :]
    means[rows, codes] = np.inf
    b = means.min(axis=1)
    return np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)


def _squared_distances(points: np.ndarray) -> np.ndarray:
    """All pairwise squared Euclidean distances, by one matrix product (``|x|^2 + |y|^2 - 2 x.y``)."""
    sq = np.einsum("ij,ij->i", points, points)
    return sq[:, None] + sq[None, :] - 2.0 * (points @ points.T)


def silhouette(X: np.ndarray, labels: np.ndarray, *, sample: int | None = None, seed: int = 0) -> float:
    """Mean silhouette, on all songs or on a fixed-seed sample of `sample` songs."""
    labels = np.asarray(labels)
    if sample is not None and sample < len(X):
        pick = np.sort(np.random.default_rng(seed).choice(len(X), sample, replace=False))
        X, labels = X[pick], labels[pick]
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_samples(X, labels).mean())


#: `silhouettes` keeps the songs' full distance matrix up to this many songs (8,000: 512 MB).
SHARED_DISTANCES_MAX = 8_000


def silhouettes(X: np.ndarray, labelings: list[np.ndarray]) -> list[float]:
    """Mean silhouette of each of several labelings of the same songs (the k sweep's curve).

    The distances between the songs do not depend on the labels, so up to `SHARED_DISTANCES_MAX`
    songs they are computed once and each labeling costs one matrix product (distances by
    one-hot clusters: every song's distance sum to every cluster); above that, `silhouette` per
    labeling. Equal to `silhouette` on each labeling (tested).

    >>> X = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    >>> [round(v, 3) for v in silhouettes(X, [np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])])]
    [0.9, -0.448]
    """
    X = np.asarray(X, dtype=np.float64)
    if len(X) > SHARED_DISTANCES_MAX:
        return [silhouette(X, labels) for labels in labelings]
    distances = _squared_distances(X)
    np.maximum(distances, 0.0, out=distances)
    np.sqrt(distances, out=distances)
    np.fill_diagonal(distances, 0.0)
    rows = np.arange(len(X))
    out = []
    for labels in labelings:
        clusters, codes = np.unique(np.asarray(labels), return_inverse=True)
        if len(clusters) < 2:
            out.append(float("nan"))
            continue
        onehot = np.zeros((len(X), len(clusters)))
        onehot[rows, codes] = 1.0
        out.append(float(_silhouette_values(distances @ onehot, codes, np.bincount(codes)).mean()))
    return out
