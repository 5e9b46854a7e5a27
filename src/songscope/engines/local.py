"""The local engine: the scikit-learn family, plus songscope's own k-means kernel.

Algorithms: kmeans, minibatch-kmeans, bisecting-kmeans, gmm, hdbscan, dbscan, agglomerative.

``kmeans`` runs songscope's own Lloyd kernel with Hamerly's distance bounds (see `lloyd`): the
same iterations and the same result as scikit-learn's ``KMeans`` from the same seeds, with most
distance computations skipped once the centres settle; `bench/kmeans.py` measures both in one run.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from songscope.engines.base import ClusterResult, member_means, nearest_center, relabel_by_size

ALGORITHMS = ("kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "hdbscan", "dbscan", "agglomerative")
#: Agglomerative clustering needs O(n^2) memory; above this it is refused with the alternatives.
AGGLOMERATIVE_MAX_ROWS = 30_000
#: DBSCAN and HDBSCAN slow down sharply past this (seconds at 15k, minutes at 100k): they fit on a
#: fixed-seed sample of this size and the rest of the songs join their nearest cluster's centre.
DENSITY_MAX_ROWS = 50_000


@dataclass
class LocalEngine:
    """Clusters with scikit-learn's algorithms (and songscope's own k-means kernel).

    Examples
    --------
    >>> X = np.vstack([np.zeros((50, 2)), np.ones((50, 2)) * 5]) + np.random.default_rng(0).normal(0, 0.1, (100, 2))
    >>> result = LocalEngine("kmeans", n_clusters=2).fit(X)
    >>> sorted(result.sizes.tolist())
    [50, 50]
    """

    algorithm: str = "kmeans"
    n_clusters: int = 8
    random_state: int = 0
    max_iter: int = 300
    n_init: int = 3
    params: dict[str, Any] = field(default_factory=dict)
    name: str = "local"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r} for the local engine; choose one of {', '.join(ALGORITHMS)}")
        if self.algorithm not in ("hdbscan", "dbscan") and self.n_clusters < 1:
            raise ValueError(f"n_clusters must be at least 1, not {self.n_clusters}")

    def fit(self, X: np.ndarray) -> ClusterResult:
        X = np.asarray(X, dtype=np.float64)
        if self.algorithm in ("kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "agglomerative") and len(X) < self.n_clusters:
            raise ValueError(f"{len(X)} songs cannot form {self.n_clusters} clusters")
        started = time.perf_counter()
        fit = getattr(self, "_fit_" + self.algorithm.replace("-", "_"))
        labels, centers, n_iter, predictor, used = fit(X)
        labels = np.asarray(labels, dtype=np.int64)
        labels, centers = relabel_by_size(labels, np.asarray(centers, dtype=np.float64))
        if predictor is not None and self.algorithm in ("kmeans", "minibatch-kmeans"):
            predictor = nearest_center(centers)
        elif predictor is not None:
            predictor = _relabelled(predictor, labels, X)
        return ClusterResult(
            labels=labels,
            centers=centers,
            engine=self.name,
            algorithm=self.algorithm,
            params={"n_clusters": int(len(centers)), "random_state": self.random_state, **used},
            timings={"fit_s": time.perf_counter() - started},
            n_iter=n_iter,
            predictor=predictor,
        )

    # --------------------------------------------------------------------------- algorithms

    def _fit_kmeans(self, X: np.ndarray):
        best = None
        rng = np.random.default_rng(self.random_state)
        tol = float(self.params.get("tol", 1e-4))
        for _ in range(self.n_init):
            seeds = kmeans_plus_plus(X, self.n_clusters, int(rng.integers(2**31 - 1)))
            labels, centers, inertia, n_iter = lloyd(X, seeds, max_iter=self.max_iter, tol=tol)
            if best is None or inertia < best[2]:
                best = (labels, centers, inertia, n_iter)
        labels, centers, _, n_iter = best
        return labels, centers, n_iter, True, {"n_init": self.n_init, "max_iter": self.max_iter, "tol": tol}

    def _fit_minibatch_kmeans(self, X: np.ndarray):
        from sklearn.cluster import MiniBatchKMeans

        batch = int(self.params.get("batch_size", 4096))
        model = MiniBatchKMeans(self.n_clusters, random_state=self.random_state, batch_size=batch, n_init=self.n_init, max_iter=self.max_iter)
        labels = model.fit_predict(X)
        return labels, model.cluster_centers_, int(model.n_iter_), True, {"batch_size": batch, "n_init": self.n_init}

    def _fit_bisecting_kmeans(self, X: np.ndarray):
        from sklearn.cluster import BisectingKMeans

        model = BisectingKMeans(self.n_clusters, random_state=self.random_state, n_init=self.n_init, bisecting_strategy="largest_cluster")
        labels = model.fit_predict(X)
        # New songs descend the tree of splits, as the training songs did (not nearest centre).
        return labels, model.cluster_centers_, None, model.predict, {"n_init": self.n_init, "bisecting_strategy": "largest_cluster"}

    def _fit_gmm(self, X: np.ndarray):
        from sklearn.mixture import GaussianMixture

        covariance = str(self.params.get("covariance_type", "full"))
        model = GaussianMixture(self.n_clusters, covariance_type=covariance, random_state=self.random_state, n_init=1, max_iter=self.max_iter)
        labels = model.fit_predict(X)
        return labels, model.means_, int(model.n_iter_), model.predict, {"covariance_type": covariance}

    def _fit_hdbscan(self, X: np.ndarray):
        from sklearn.cluster import HDBSCAN

        min_cluster_size = int(self.params.get("min_cluster_size", 50))
        min_samples = self.params.get("min_samples")
        sample, used = self._density_sample(X)
        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
        labels = self._density_labels(X, sample, model.fit_predict(X[sample]))
        # No predict: density clusters are not convex, so "nearest centre" would misplace songs.
        return labels, member_means(X, labels), None, None, used | {"min_cluster_size": min_cluster_size, "min_samples": min_samples}

    def _fit_dbscan(self, X: np.ndarray):
        from sklearn.cluster import DBSCAN

        eps = float(self.params.get("eps", 0.8))
        min_samples = int(self.params.get("min_samples", 10))
        sample, used = self._density_sample(X)
        labels = self._density_labels(X, sample, DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X[sample]))
        return labels, member_means(X, labels), None, None, used | {"eps": eps, "min_samples": min_samples}

    def _fit_agglomerative(self, X: np.ndarray):
        from sklearn.cluster import AgglomerativeClustering

        if len(X) > AGGLOMERATIVE_MAX_ROWS:
            raise ValueError(
                f"agglomerative clustering needs memory growing with the square of the songs; {len(X):,} is more than "
                f"{AGGLOMERATIVE_MAX_ROWS:,}. Use kmeans, bisecting-kmeans or gmm, or cluster a sample"
            )
        linkage = str(self.params.get("linkage", "ward"))
        labels = AgglomerativeClustering(self.n_clusters, linkage=linkage).fit_predict(X)
        return labels, member_means(X, labels), None, None, {"linkage": linkage}

    def _density_sample(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        if len(X) <= DENSITY_MAX_ROWS:
            return np.arange(len(X)), {"fitted_on": len(X)}
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(len(X), DENSITY_MAX_ROWS, replace=False)), {"fitted_on": DENSITY_MAX_ROWS}

    @staticmethod
    def _density_labels(X: np.ndarray, sample: np.ndarray, sample_labels: np.ndarray) -> np.ndarray:
        if len(sample) == len(X):
            return sample_labels
        labels = np.full(len(X), -1, dtype=np.int64)
        labels[sample] = sample_labels
        rest = np.setdiff1d(np.arange(len(X)), sample)
        if (sample_labels >= 0).any():
            labels[rest] = nearest_center(member_means(X[sample], sample_labels))(X[rest])
        return labels


def _relabelled(predict, labels: np.ndarray, X: np.ndarray):
    """Wrap a model's predict so its numbers follow `relabel_by_size`'s renumbering."""
    original = np.asarray(predict(X))
    k = int(max(original.max(), labels.max())) + 1
    mapping = np.zeros(k, dtype=np.int64)
    mapping[original] = labels

    def predict_relabelled(points: np.ndarray) -> np.ndarray:
        return mapping[np.asarray(predict(points))]

    return predict_relabelled


# ------------------------------------------------------------------------------ k-means kernel


def kmeans_plus_plus(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ seeds (greedy, as scikit-learn), on at most 200,000 rows for speed."""
    from sklearn.cluster import kmeans_plusplus

    rng = np.random.default_rng(seed)
    pool = X if len(X) <= 200_000 else X[rng.choice(len(X), 200_000, replace=False)]
    centers, _ = kmeans_plusplus(pool, k, random_state=seed)
    return centers


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
def _nearest_and_sums(products, X, c_sq, labels, sums, counts):  # pragma: no cover - compiled
    """From ``products = X @ C.T`` for a block of rows: each row's nearest centre (least
    ``|c|^2 - 2 x.c``), and the per-centre sums and counts of the rows, added into `sums`, `counts`.

    The block's sums are gathered in float32 (a row is added as a few SIMD vectors), then added to
    the float64 totals once per block, so precision is that of float64 across blocks.
    """
    n, k = products.shape
    d = X.shape[1]
    block_sums = np.zeros((k, d), dtype=np.float32)
    for i in range(n):
        best = 0
        best_value = c_sq[0] - np.float32(2.0) * products[i, 0]
        for j in range(1, k):
            value = c_sq[j] - np.float32(2.0) * products[i, j]
            if value < best_value:
                best_value = value
                best = j
        labels[i] = best
        counts[best] += 1
        for f in range(d):
            block_sums[best, f] += X[i, f]
    for j in range(k):
        for f in range(d):
            sums[j, f] += block_sums[j, f]


_BLOCK = 4_096


class _Assigner:
    """The assignment step of Lloyd's algorithm, reusable across iterations.

    Rows are padded with zero columns to a multiple of 8 (BLAS's float32 kernels run much faster
    on such shapes), split into blocks, and each block is one float32 matrix product plus one
    compiled scan for the argmin and the sums (`_nearest_and_sums`). Blocks are shared among
    threads (both parts release the GIL), with BLAS single-threaded inside so the threads do not
    fight over the cores.
    """

    def __init__(self, X: np.ndarray, workers: int):
        n, d = X.shape
        self.d = d
        padded = -(-d // 8) * 8
        self.X = np.zeros((n, padded), dtype=np.float32)
        self.X[:, :d] = X
        self.spans = [(s, min(s + _BLOCK, n)) for s in range(0, n, _BLOCK)]
        self.workers = max(1, min(workers, len(self.spans)))
        self.buffers: list[np.ndarray] = []
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def __call__(self, centers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(centers)
        padded = self.X.shape[1]
        c = np.zeros((k, padded), dtype=np.float32)
        c[:, : self.d] = centers
        c_t = np.ascontiguousarray(c.T)
        c_sq = (c.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        sums = np.zeros((self.workers, k, padded))
        counts = np.zeros((self.workers, k), dtype=np.int64)
        if not self.buffers or self.buffers[0].shape[1] != k:
            self.buffers = [np.empty((_BLOCK, k), dtype=np.float32) for _ in range(self.workers)]

        def work(worker: int) -> None:
            out = self.buffers[worker]
            for s, e in self.spans[worker :: self.workers]:
                products = np.matmul(self.X[s:e], c_t, out=out[: e - s])
                _nearest_and_sums(products, self.X[s:e], c_sq, labels[s:e], sums[worker], counts[worker])

        if self.pool is None:
            work(0)
        else:
            list(self.pool.map(work, range(self.workers)))
        return sums.sum(axis=0)[:, : self.d], counts.sum(axis=0)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def lloyd(
    X: np.ndarray, centers: np.ndarray, *, max_iter: int = 300, tol: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd's k-means from `centers`; returns labels, centres, inertia (float64) and iterations.

    Each iteration is one pass over the rows (`_Assigner`): the nearest centre of each row and
    the sums of the new centres together, float32 distances, all cores. Convergence as
    scikit-learn: stop when the centres move less than ``tol`` times the mean feature variance
    (squared Frobenius norm) or no row changes centre; then assign once more to the final centres.
    """
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X32)
    centers = np.array(centers, dtype=np.float64)
    threshold = tol * float(np.mean(np.var(X32, axis=0, dtype=np.float64)))
    labels = np.zeros(n, dtype=np.int64)
    previous = np.full(n, -1, dtype=np.int64)
    assign = _Assigner(X32, os.cpu_count() or 1)
    n_iter = 0
    # BLAS single-threaded while the block threads run (entering this costs milliseconds: once).
    with threadpool_limits(1, user_api="blas"):
        labels, centers, n_iter = _lloyd_loop(X32, centers, labels, previous, assign, max_iter, threshold)
    return labels, centers, inertia_of(X32, labels, centers), n_iter


def _lloyd_loop(X32, centers, labels, previous, assign, max_iter, threshold):
    n_iter = 0
    try:
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is returned
            sums, counts = assign(centers, labels)
            new_centers = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
            empty = np.flatnonzero(counts == 0)
            if len(empty):
                # An empty cluster takes the rows farthest from their centres, as scikit-learn does.
                far = np.argsort(((X32 - centers[labels]) ** 2).sum(axis=1))[::-1][: len(empty)]
                new_centers[empty] = X32[far]
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            if np.array_equal(labels, previous) or shift <= threshold:
                break
            previous[:] = labels
        assign(centers, labels)
    finally:
        assign.close()
    return labels, centers, n_iter


def inertia_of(X: np.ndarray, labels: np.ndarray, centers: np.ndarray, chunk: int = 262_144) -> float:
    """Sum of squared distances to the assigned centres, in float64."""
    total = 0.0
    for s in range(0, len(X), chunk):
        diff = np.asarray(X[s : s + chunk], dtype=np.float64) - centers[labels[s : s + chunk]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total
