"""Internal validity indices, computed by songscope in the shared feature space for every engine.

Never taken from an engine's own summary: Spark's ClusteringEvaluator silhouette, for one, uses
squared distances and reads 0.53 where the Euclidean definition reads 0.36 on the same clustering.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from songscope.engines.base import member_means

#: Silhouette is exact up to this many songs, else computed on a fixed-seed sample of this size.
SILHOUETTE_EXACT_MAX = 20_000
_ROWS = 256  # rows of the distance matrix held at once per thread (256 x 20k doubles: 40 MB)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
def _cluster_distance_sums(dots, sq_rows, sq_all, bounds, out):  # pragma: no cover - compiled
    """For each row of a block (``dots``: its dot products with every song; songs sorted by
    cluster, cluster c in columns ``bounds[c]:bounds[c+1]``), the sum of its Euclidean distances
    to each cluster's songs, from ``|x|^2 + |y|^2 - 2 x.y``."""
    rows = dots.shape[0]
    k = len(bounds) - 1
    for r in range(rows):
        a = sq_rows[r]
        for c in range(k):
            total = 0.0
            for j in range(bounds[c], bounds[c + 1]):
                v = a + sq_all[j] - 2.0 * dots[r, j]
                total += np.sqrt(v) if v > 0 else 0.0
            out[r, c] = total


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
        with ThreadPoolExecutor(workers) as pool:
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


def within_sse(X: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of each song to its cluster's mean (noise left out)."""
    kept = labels >= 0
    total = 0.0
    for cluster in np.unique(labels[kept]):
        members = X[labels == cluster]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def _centroids(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cluster sizes and means, and each song's cluster as a code 0..k-1."""
    _, codes = np.unique(labels, return_inverse=True)
    return np.bincount(codes), member_means(X, codes), codes


def davies_bouldin(X: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index (lower is better): for each cluster, the worst ratio of the two
    clusters' mean distances to their centres over the distance between the centres; averaged.

    >>> round(davies_bouldin(np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]]), np.array([0, 0, 1, 1])), 3)
    0.2
    """
    X = np.asarray(X, dtype=np.float64)
    _, centres, codes = _centroids(X, labels)
    spread = np.bincount(codes, weights=np.sqrt(((X - centres[codes]) ** 2).sum(axis=1))) / np.bincount(codes)
    between = np.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(spread, 0) or np.allclose(between, 0):
        return 0.0
    between[between == 0] = np.inf
    ratios = (spread[:, None] + spread[None, :]) / between
    ratios[np.isinf(ratios)] = np.nan
    return float(np.mean(np.nanmax(ratios, axis=1)))


def calinski_harabasz(X: np.ndarray, labels: np.ndarray) -> float:
    """Calinski-Harabasz index (higher is better): between-cluster over within-cluster dispersion,
    each per degree of freedom.

    >>> calinski_harabasz(np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]]), np.array([0, 0, 1, 1]))
    50.0
    """
    X = np.asarray(X, dtype=np.float64)
    sizes, centres, codes = _centroids(X, labels)
    between = float((sizes * ((centres - X.mean(axis=0)) ** 2).sum(axis=1)).sum())
    within = float(((X - centres[codes]) ** 2).sum())
    k, n = len(sizes), len(X)
    return 1.0 if within == 0 else between * (n - k) / (within * (k - 1))


def trustworthiness(X: np.ndarray, embedded: np.ndarray, n_neighbors: int = 10) -> float:
    """How far a 2-D map keeps each song's neighbours (Venna & Kaski; scikit-learn's definition):
    1 minus the penalised ranks, in the original space, of map neighbours that are not among the
    song's `n_neighbors` nearest there. 1 is perfect; a random map scores about 0.5.
    Quadratic in songs: meant for a sample of a few thousand."""
    X = np.asarray(X, dtype=np.float64)
    embedded = np.asarray(embedded, dtype=np.float64)
    n, k = len(X), n_neighbors
    if not 1 <= k < n / 2:
        raise ValueError(f"n_neighbors must be at least 1 and below half the songs ({n}), not {k}")
    in_data, on_map_distances = _squared_distances(X), _squared_distances(embedded)
    for distances in (in_data, on_map_distances):
        np.fill_diagonal(distances, np.inf)  # a song is not its own neighbour
    on_map = np.argpartition(on_map_distances, k - 1, axis=1)[:, :k]
    # Each map neighbour's rank in the data: 1 + the songs strictly nearer there (no full sort).
    to_neighbour = np.take_along_axis(in_data, on_map, axis=1)
    excess = (in_data[:, None, :] < to_neighbour[:, :, None]).sum(axis=2) + 1 - k
    penalty = float(excess[excess > 0].sum())
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def internal_indices(X: np.ndarray, labels: np.ndarray, *, seed: int = 0, silhouette_max: int = SILHOUETTE_EXACT_MAX) -> dict[str, float]:
    """Silhouette (Euclidean), Davies-Bouldin, Calinski-Harabasz and SSE; noise points excluded.

    ``silhouette_n`` says how many songs the silhouette used (all of them up to `silhouette_max`).

    >>> X = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    >>> round(internal_indices(X, np.array([0, 0, 1, 1]))["silhouette"], 3)
    0.9
    """
    labels = np.asarray(labels)
    kept = labels >= 0
    Xk, lk = X[kept], labels[kept]
    n_clusters = len(np.unique(lk))
    out = {
        "n": int(len(X)),
        "n_clusters": int(n_clusters),
        "noise_share": float(1 - kept.mean()) if len(X) else 0.0,
        "sse": within_sse(X, labels),
    }
    if n_clusters < 2 or n_clusters >= len(Xk):
        return out | {"silhouette": float("nan"), "silhouette_n": 0, "davies_bouldin": float("nan"), "calinski_harabasz": float("nan")}
    sample = None if len(Xk) <= silhouette_max else silhouette_max
    out["silhouette"] = silhouette(Xk, lk, sample=sample, seed=seed)
    out["silhouette_n"] = int(sample or len(Xk))
    out["davies_bouldin"] = davies_bouldin(Xk, lk)
    out["calinski_harabasz"] = calinski_harabasz(Xk, lk)
    return out
