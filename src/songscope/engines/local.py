"""The local engine: the scikit-learn family, plus songscope's own k-means kernel.

Algorithms: kmeans, minibatch-kmeans, bisecting-kmeans, gmm, hdbscan, dbscan, agglomerative.

``kmeans`` runs songscope's own Lloyd kernel (see `lloyd`): the same iterations and the same
result as scikit-learn's ``KMeans`` from the same seeds, float32 distances computed many rows per
instruction; `bench/kmeans.py` measures both in one run.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
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
    """k-means++ seeds, greedy as in scikit-learn (Arthur & Vassilvitskii with ``2 + ln k`` candidate
    draws per centre, keeping the one that lowers the total squared distance most), on at most
    200,000 rows for speed. songscope's own (`_greedy_seeds`): scikit-learn's costs a second of
    imports and about 3 ms of argument checks per call, and the gap statistic calls it hundreds
    of times."""
    rng = np.random.default_rng(seed)
    pool = X if len(X) <= 200_000 else X[rng.choice(len(X), 200_000, replace=False)]
    pool = np.ascontiguousarray(pool, dtype=np.float64)
    if not 1 <= k <= len(pool):
        raise ValueError(f"k-means++ needs 1 <= k <= {len(pool)} songs, not k = {k}")
    trials = 2 + int(np.log(k))
    first = int(rng.integers(len(pool)))
    draws = rng.random((max(k - 1, 0), trials))
    return pool[_greedy_seeds(pool, first, draws)]


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _greedy_seeds(X, first, draws):  # pragma: no cover - compiled
    """Row indices of the k-means++ centres: row `first`, then for each later centre the best of
    ``draws.shape[1]`` candidates drawn in proportion to the squared distance to the nearest
    centre so far (each ``draws`` value in [0, 1) is scaled by the current total)."""
    n, d = X.shape
    k = draws.shape[0] + 1
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = first
    closest = np.empty(n)
    for i in range(n):
        t = 0.0
        for f in range(d):
            v = X[i, f] - X[first, f]
            t += v * v
        closest[i] = t
    trial = np.empty(n)
    best_closest = np.empty(n)
    cumulative = np.empty(n)
    for c in range(1, k):
        running = 0.0
        for i in range(n):
            running += closest[i]
            cumulative[i] = running
        best_total = np.inf
        best_row = 0
        for t in range(draws.shape[1]):
            row = min(np.searchsorted(cumulative, draws[c - 1, t] * running), n - 1)
            total = 0.0
            for i in range(n):
                s = 0.0
                for f in range(d):
                    v = X[i, f] - X[row, f]
                    s += v * v
                s = min(s, closest[i])
                trial[i] = s
                total += s
            if total < best_total:
                best_total = total
                best_row = row
                best_closest[:] = trial
        chosen[c] = best_row
        closest[:] = best_closest
    return chosen


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
def _nearest_and_sums(products, X, c_sq, labels, sums, counts, nearest_value, nearest):  # pragma: no cover - compiled
    """From ``products = C @ X.T`` for a block of rows (centres by rows): each row's nearest
    centre (least ``|c|^2 - 2 x.c``), and the per-centre sums and counts of the rows, added into
    `sums` (float32, for this block) and `counts`.

    The scan runs centre by centre over all the block's rows, so the compare-and-keep vectorises
    across rows (a row-by-row argmin over 50 values cannot, and was eight times slower).
    `nearest_value` and `nearest` are scratch arrays at least as long as the block. Returns how
    many rows changed centre (the labels hold the previous pass's, or -1).
    """
    k, n = products.shape
    d = X.shape[1]
    for i in range(n):
        nearest_value[i] = np.float32(3e38)
        nearest[i] = 0
    for j in range(k):
        c = c_sq[j]
        for i in range(n):
            value = c - np.float32(2.0) * products[j, i]
            closer = value < nearest_value[i]
            nearest_value[i] = value if closer else nearest_value[i]
            nearest[i] = j if closer else nearest[i]
    changed = 0
    for i in range(n):
        best = nearest[i]
        changed += labels[i] != best
        labels[i] = best
        counts[best] += 1
        for f in range(d):
            sums[best, f] += X[i, f]
    return changed


#: Rows per block in the fused kernel's layout (the block's 16 feature rows stay in L1 cache).
_FUSED_BLOCK = 512
#: Feature count the fused kernel is written for; narrower spaces are padded with zero columns.
_FUSED_WIDTH = 16


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
def _assign_blocks(XB, n, first, last, W, c_sq, labels, sums, counts):  # pragma: no cover - compiled
    """Nearest centre of every row in blocks ``first..last-1`` of `XB`, with the centres' sums.

    `XB` holds the rows in blocks of features by rows, (blocks, 16, block rows); `W` is ``-2 C``
    and ``c_sq`` is ``|c|^2``, so a row's nearest centre has the least ``|c|^2 - 2 x.c``. Rows
    at or past `n` are padding and ignored. Adds the rows' first ``sums.shape[1]`` features into
    `sums` (float64) and `counts`; returns how many rows changed centre (`labels` holds the
    previous pass's, or -1).

    The loop over a block's rows is innermost and the 16-term dot product is written out, so
    the compiler keeps a row vector of each feature in registers and computes 8 or 16 rows per
    instruction, with no matrix of products in memory (a matrix product followed by a scan did
    twice the memory traffic, and a row-by-row argmin cannot vectorise at all).
    """
    k, d = sums.shape
    rows = XB.shape[2]
    value = np.empty(rows, dtype=np.float32)
    nearest = np.empty(rows, dtype=np.int32)
    block_sums = np.zeros((k, d), dtype=np.float32)
    changed = 0
    for b in range(first, last):
        X = XB[b]
        for i in range(rows):
            value[i] = np.float32(3e38)
            nearest[i] = 0
        for j in range(k):
            w = W[j]
            c = c_sq[j]
            for i in range(rows):
                v = (
                    c + w[0] * X[0, i] + w[1] * X[1, i] + w[2] * X[2, i] + w[3] * X[3, i]
                    + w[4] * X[4, i] + w[5] * X[5, i] + w[6] * X[6, i] + w[7] * X[7, i]
                    + w[8] * X[8, i] + w[9] * X[9, i] + w[10] * X[10, i] + w[11] * X[11, i]
                    + w[12] * X[12, i] + w[13] * X[13, i] + w[14] * X[14, i] + w[15] * X[15, i]
                )
                closer = v < value[i]
                value[i] = v if closer else value[i]
                nearest[i] = j if closer else nearest[i]
        # Sums gather in float32 within a block, in float64 across blocks.
        block_sums[:] = 0
        start = b * rows
        for i in range(min(rows, n - start)):
            best = nearest[i]
            changed += labels[start + i] != best
            labels[start + i] = best
            counts[best] += 1
            for f in range(d):
                block_sums[best, f] += X[f, i]
        for j in range(k):
            for f in range(d):
                sums[j, f] += block_sums[j, f]
    return changed


class _FusedAssigner:
    """The assignment step of Lloyd's algorithm for spaces of up to 16 features (the default
    space has 13): one compiled pass per thread over its share of the row blocks
    (`_assign_blocks`), distances and sums together, float32."""

    def __init__(self, X: np.ndarray, workers: int):
        n, d = X.shape
        self.n, self.d = n, d
        blocks = -(-n // _FUSED_BLOCK)
        self.XB = np.zeros((blocks, _FUSED_WIDTH, _FUSED_BLOCK), dtype=np.float32)
        full = n // _FUSED_BLOCK
        self.XB[:full, :d, :] = X[: full * _FUSED_BLOCK].reshape(full, _FUSED_BLOCK, d).transpose(0, 2, 1)
        if full < blocks:
            self.XB[full, :d, : n - full * _FUSED_BLOCK] = X[full * _FUSED_BLOCK :].T
        self.workers = max(1, min(workers, blocks))
        bounds = np.linspace(0, blocks, self.workers + 1).astype(int)
        self.shares = list(zip(bounds[:-1], bounds[1:], strict=True))
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def __call__(self, centers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Assign every row to its nearest centre, in place in `labels`; return the new centres'
        sums and counts and how many rows changed centre."""
        k = len(centers)
        c = np.zeros((k, _FUSED_WIDTH), dtype=np.float32)
        c[:, : self.d] = centers
        W = np.float32(-2.0) * c
        c_sq = (c.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        sums = np.zeros((self.workers, k, self.d))
        counts = np.zeros((self.workers, k), dtype=np.int64)

        def work(worker: int) -> int:
            first, last = self.shares[worker]
            return _assign_blocks(self.XB, self.n, first, last, W, c_sq, labels, sums[worker], counts[worker])

        changed = work(0) if self.pool is None else sum(self.pool.map(work, range(self.workers)))
        return sums.sum(axis=0), counts.sum(axis=0), int(changed)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


_BLOCK = 4_096


class _BlasAssigner:
    """The assignment step of Lloyd's algorithm for wider spaces (more than 16 features).

    Rows are padded with zero columns to a multiple of 8 (BLAS's float32 kernels run much faster
    on such shapes), split into blocks, and each block is one float32 matrix product (centres by
    rows) plus one compiled scan for the nearest centre and the sums (`_nearest_and_sums`). Blocks are shared among
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

    def __call__(self, centers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Assign every row to its nearest centre, in place in `labels`; return the new centres'
        sums and counts and how many rows changed centre."""
        k = len(centers)
        padded = self.X.shape[1]
        c = np.zeros((k, padded), dtype=np.float32)
        c[:, : self.d] = centers
        c_sq = (c.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        sums = np.zeros((self.workers, k, padded))
        counts = np.zeros((self.workers, k), dtype=np.int64)
        changed = np.zeros(self.workers, dtype=np.int64)
        if not self.buffers or self.buffers[0].size != k * _BLOCK:
            self.buffers = [np.empty(k * _BLOCK, dtype=np.float32) for _ in range(self.workers)]

        def work(worker: int) -> None:
            out = self.buffers[worker]
            nearest_value = np.empty(_BLOCK, dtype=np.float32)
            nearest = np.empty(_BLOCK, dtype=np.int32)
            block_sums = np.zeros((k, padded), dtype=np.float32)
            for s, e in self.spans[worker :: self.workers]:
                # Centres by rows: the layout that lets the nearest-centre scan vectorise.
                products = np.matmul(c, self.X[s:e].T, out=out[: k * (e - s)].reshape(k, e - s))
                block_sums[:] = 0
                changed[worker] += _nearest_and_sums(products, self.X[s:e], c_sq, labels[s:e], block_sums, counts[worker], nearest_value, nearest)
                # Sums gather in float32 within a block, in float64 across blocks.
                sums[worker] += block_sums

        if self.pool is None:
            work(0)
        else:
            list(self.pool.map(work, range(self.workers)))
        return sums.sum(axis=0)[:, : self.d], counts.sum(axis=0), int(changed.sum())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def lloyd(
    X: np.ndarray, centers: np.ndarray, *, max_iter: int = 300, tol: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd's k-means from `centers`; returns labels, centres, inertia (float64) and iterations.

    Each iteration is one pass over the rows (`_FusedAssigner`, or `_BlasAssigner` above 16 features): the nearest centre of each row and
    the sums of the new centres together, float32 distances, all cores. Convergence as
    scikit-learn: stop when the centres move less than ``tol`` times the mean feature variance
    (squared Frobenius norm) or no row changes centre; then assign once more to the final centres.
    """
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X32)
    centers = np.array(centers, dtype=np.float64)
    threshold = tol * _mean_variance(X32) if tol > 0 else 0.0
    labels = np.full(n, -1, dtype=np.int64)
    # Threads pay from about 50k rows; below, handing blocks to a pool costs more than it saves
    # (the gap statistic runs hundreds of small k-means).
    workers = (os.cpu_count() or 1) if n >= 50_000 else 1
    assign = _FusedAssigner(X32, workers) if X32.shape[1] <= _FUSED_WIDTH else _BlasAssigner(X32, workers)
    # BLAS single-threaded while the block threads run. Entering this scans the loaded libraries
    # (milliseconds per call), so only the one path that runs BLAS inside threads pays for it.
    blas_in_threads = isinstance(assign, _BlasAssigner) and assign.workers > 1
    with threadpool_limits(1, user_api="blas") if blas_in_threads else nullcontext():
        labels, centers, n_iter = _lloyd_loop(X32, centers, labels, assign, max_iter, threshold)
    return labels, centers, inertia_of(X32, labels, centers), n_iter


def _lloyd_loop(X32, centers, labels, assign, max_iter, threshold):
    n_iter = 0
    try:
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is returned
            sums, counts, changed = assign(centers, labels)
            new_centers = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
            empty = np.flatnonzero(counts == 0)
            if len(empty):
                # An empty cluster takes the rows farthest from their centres, as scikit-learn does.
                far = np.argsort(((X32 - centers[labels]) ** 2).sum(axis=1))[::-1][: len(empty)]
                new_centers[empty] = X32[far]
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            if changed == 0 or shift <= threshold:
                break
        assign(centers, labels)
    finally:
        assign.close()
    return labels, centers, n_iter


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
def _mean_variance(X):  # pragma: no cover - compiled
    """Mean over the columns of each column's variance, in float64 (numpy's strided column
    variance took 80 ms on a million rows, longer than two Lloyd iterations)."""
    n, d = X.shape
    means = np.zeros(d)
    for i in range(n):
        for f in range(d):
            means[f] += X[i, f]
    means /= n
    total = 0.0
    for i in range(n):
        for f in range(d):
            t = X[i, f] - means[f]
            total += t * t
    return total / n / d


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
def _inertia(X, labels, centers):  # pragma: no cover - compiled
    total = 0.0
    for i in range(X.shape[0]):
        c = labels[i]
        for f in range(X.shape[1]):
            t = np.float64(X[i, f]) - centers[c, f]
            total += t * t
    return total


def inertia_of(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances to the assigned centres, in float64, on all cores.

    >>> inertia_of(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]), np.array([[1.0, 0.0]]))
    2.0
    """
    X = np.ascontiguousarray(X)
    labels = np.asarray(labels, dtype=np.int64)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    workers = min(os.cpu_count() or 1, max(1, len(X) // 100_000))
    if workers == 1:
        return float(_inertia(X, labels, centers))
    bounds = np.linspace(0, len(X), workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda span: _inertia(X[span[0] : span[1]], labels[span[0] : span[1]], centers), zip(bounds[:-1], bounds[1:], strict=True))
        return float(sum(parts))
