"""songscope's Lloyd k-means kernel: the same iterations and result as scikit-learn's ``KMeans``
from the same seeds, measured faster (`bench/kmeans.py` runs both on 1,000,000 x 13, k = 50, in
one command; `tests/engines/test_lloyd.py` checks equality of labels, centres, inertia and
iteration counts).

The rows are held in blocks laid out features-by-rows; the distances ``|c|^2 - 2 x.c`` are
computed many rows per SIMD instruction with the running minimum in registers, and the sums of
the next centres are gathered in the same pass, so no product matrix is ever written.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numba
import numpy as np
from threadpoolctl import threadpool_limits


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
