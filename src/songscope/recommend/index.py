"""Nearest-neighbour indexes over the recommendation space: exact by default, approximate for
large catalogues (an inverted file over k-means cells, with its recall measured, not assumed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from songscope.cluster.kmeans import lloyd
from songscope.errors import UserError


def _top_k(distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the k smallest per row, sorted."""
    k = min(k, distances.shape[1])
    if k == 1:
        idx = distances.argmin(axis=1)[:, None]
        return idx, np.take_along_axis(distances, idx, axis=1)
    part = np.argpartition(distances, k - 1, axis=1)[:, :k]
    rows = np.arange(len(distances))[:, None]
    order = np.argsort(distances[rows, part], axis=1, kind="stable")
    idx = part[rows, order]
    return idx, distances[rows, idx]


def _squared_distances(Q: np.ndarray, X: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    d = x_sq[None, :] - 2.0 * (Q @ X.T) + (Q**2).sum(axis=1)[:, None]
    return np.maximum(d, 0.0)


#: Floating-point liberties for the scan: reassociation lets the dot products use SIMD; no
#: assumption that values are finite (the comparisons must stay exact).
_SCAN_MATH = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, nogil=True, fastmath=_SCAN_MATH, boundscheck=False)
def _sift_down(heap_d, heap_r, size, value, row):  # pragma: no cover - compiled
    """Put (value, row) at the root of the max-heap of `size` entries and restore its order."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_d[child + 1] > heap_d[child]:
            child += 1
        if heap_d[child] <= value:
            break
        heap_d[i] = heap_d[child]
        heap_r[i] = heap_r[child]
        i = child
    heap_d[i] = value
    heap_r[i] = row


@numba.njit(cache=True, nogil=True, fastmath=_SCAN_MATH, boundscheck=False)
def _nearest_in_cells(X, x_sq, offsets, cells, Q, out_rows, out_dist):  # pragma: no cover - compiled
    """For each query `Q[q]`: the `k` (= out_rows.shape[1]) rows of `X` nearest to it among the
    cells `cells[q]` (rows ``offsets[c]:offsets[c + 1]``, read in order: no gathered copy), as
    row numbers and squared distances, nearest first, in `out_rows[q]` and `out_dist[q]`; returns
    how many were found per query (fewer than k when the cells hold fewer songs). A bounded
    max-heap keeps the k best while scanning, so no distance array the size of the cells is
    written and then partitioned."""
    d = X.shape[1]
    k = out_rows.shape[1]
    found = np.zeros(Q.shape[0], dtype=np.int64)
    for q in range(Q.shape[0]):
        query = Q[q]
        q_sq = np.float32(0.0)
        for f in range(d):
            q_sq += query[f] * query[f]
        heap_d = out_dist[q]
        heap_r = out_rows[q]
        size = 0
        for c in range(cells.shape[1]):
            cell = cells[q, c]
            for r in range(offsets[cell], offsets[cell + 1]):
                dot = np.float32(0.0)
                for f in range(d):
                    dot += X[r, f] * query[f]
                value = x_sq[r] - np.float32(2.0) * dot + q_sq
                if value < 0:
                    value = np.float32(0.0)
                if size < k:  # not full: sift the new entry up
                    i = size
                    size += 1
                    while i > 0:
                        parent = (i - 1) // 2
                        if heap_d[parent] >= value:
                            break
                        heap_d[i] = heap_d[parent]
                        heap_r[i] = heap_r[parent]
                        i = parent
                    heap_d[i] = value
                    heap_r[i] = r
                elif value < heap_d[0]:  # nearer than the farthest kept: it takes its place
                    _sift_down(heap_d, heap_r, size, value, r)
        # Heap sort, in place: the farthest goes to the end, one at a time.
        end = size
        while end > 1:
            end -= 1
            top_d, top_r = heap_d[0], heap_r[0]
            value, row = heap_d[end], heap_r[end]
            heap_d[end] = top_d
            heap_r[end] = top_r
            _sift_down(heap_d, heap_r, end, value, row)
        found[q] = size
    return found


@dataclass
class ExactIndex:
    """Brute force: one matrix product per query batch. Exact, and fast up to a few 100k songs.

    >>> index = ExactIndex().fit(np.array([[0.0, 0], [1, 0], [5, 5]]))
    >>> index.search(np.array([[0.9, 0.1]]), 2)[0].tolist()
    [[1, 0]]
    """

    X: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    x_sq: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def fit(self, X: np.ndarray) -> ExactIndex:
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.x_sq = (self.X.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        return self

    def search(self, Q: np.ndarray, k: int, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest songs of each query: (indices, squared distances), nearest first."""
        Q = np.atleast_2d(np.asarray(Q, dtype=np.float32))
        out_idx, out_dist = [], []
        for s in range(0, len(Q), batch):
            idx, dist = _top_k(_squared_distances(Q[s : s + batch], self.X, self.x_sq), k)
            out_idx.append(idx)
            out_dist.append(dist)
        return np.vstack(out_idx), np.vstack(out_dist)

    def vectors(self, rows) -> np.ndarray:
        """The indexed vectors of `rows` (row numbers of the matrix given to `fit`)."""
        return self.X[rows]

    @property
    def nbytes(self) -> int:
        return self.X.nbytes + self.x_sq.nbytes


@dataclass
class IVFIndex:
    """Inverted file: songs bucketed by their nearest of `n_lists` k-means centres; a query scans
    the `n_probe` nearest buckets exactly. Recall rises with `n_probe`; `recall_at_k` measures it."""

    n_lists: int | None = None
    n_probe: int = 16
    seed: int = 0
    centres: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    order: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    position: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]  # inverse of order
    offsets: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    X: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    x_sq: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    _centre_index: ExactIndex = field(default=None, repr=False)  # type: ignore[assignment]

    def fit(self, X: np.ndarray) -> IVFIndex:
        X = np.ascontiguousarray(X, dtype=np.float32)
        n = len(X)
        lists = self.n_lists or int(np.clip(np.sqrt(n), 1, 4096))
        rng = np.random.default_rng(self.seed)
        train = X if n <= 40 * lists else X[rng.choice(n, 40 * lists, replace=False)]
        # A coarse quantiser needs cells of similar size, not the best SSE: random seeds and ten
        # Lloyd iterations on a sample do (k-means++ over thousands of centres would take minutes).
        _, centres, _, _ = lloyd(train, train[rng.choice(len(train), lists, replace=False)], max_iter=10)
        assign = ExactIndex().fit(centres).search(X, 1, batch=4096)[0][:, 0]
        # Row numbers fit in 32 bits below 2**31 songs: half the bytes per song of int64.
        rows_type = np.int32 if n < 2**31 else np.int64
        self.order = np.argsort(assign, kind="stable").astype(rows_type)
        self.position = np.empty(n, dtype=rows_type)
        self.position[self.order] = np.arange(n, dtype=rows_type)
        self.offsets = np.searchsorted(assign[self.order], np.arange(lists + 1))
        self.centres = centres.astype(np.float32)
        self._centre_index = ExactIndex().fit(self.centres)
        # The index keeps the only copy of the vectors, in cell order (`vectors` reads them).
        self.X = X[self.order]
        self.x_sq = (self.X.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        self.n_lists = lists
        return self

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest songs of each query among its `n_probe` nearest cells: (indices, squared
        distances), nearest first; -1 and inf where the cells hold fewer than k songs."""
        Q = np.ascontiguousarray(np.atleast_2d(np.asarray(Q, dtype=np.float32)))
        probe = min(self.n_probe, self.n_lists or 1)
        cells = self._centre_index.search(Q, probe)[0]
        rows = np.empty((len(Q), k), dtype=np.int64)
        distances = np.empty((len(Q), k), dtype=np.float32)
        found = _nearest_in_cells(self.X, self.x_sq, self.offsets, cells, Q, rows, distances)
        missing = np.arange(k)[None, :] >= found[:, None]
        rows[missing] = 0
        out_idx = self.order[rows].astype(np.int64)
        out_idx[missing] = -1
        distances[missing] = np.inf
        return out_idx, distances

    def vectors(self, rows) -> np.ndarray:
        """The indexed vectors of `rows` (row numbers of the matrix given to `fit`)."""
        return self.X[self.position[rows]]

    @property
    def nbytes(self) -> int:
        return self.X.nbytes + self.x_sq.nbytes + self.order.nbytes + self.position.nbytes + self.offsets.nbytes + self.centres.nbytes


def recall_at_k(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact k nearest that the approximate search also returned."""
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approximate, exact)]
    return float(np.sum(hits) / exact.size)


def build_index(X: np.ndarray, kind: str = "auto", *, exact_max: int = 200_000, n_probe: int = 16):
    """Exact up to `exact_max` songs (or when asked), else the inverted file."""
    if kind == "exact" or (kind == "auto" and len(X) <= exact_max):
        return ExactIndex().fit(X)
    if kind in ("ivf", "auto"):
        return IVFIndex(n_probe=n_probe).fit(X)
    raise UserError(f"unknown index {kind!r}: choose auto, exact or ivf")
