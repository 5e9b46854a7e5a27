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


@numba.njit(cache=True, nogil=True, fastmath=True, boundscheck=False)
def _scan_runs(X, x_sq, starts, ends, query, q_sq, rows, distances):  # pragma: no cover - compiled
    """Squared distances from `query` to the rows in runs ``starts[i]:ends[i]`` of `X`, written
    to `distances` with each row's number in `rows`; returns how many. The probed cells of the
    inverted file are such runs, so the rows are read in order, with no gathered copy."""
    d = X.shape[1]
    count = 0
    for run in range(len(starts)):
        for r in range(starts[run], ends[run]):
            dot = np.float32(0.0)
            for f in range(d):
                dot += X[r, f] * query[f]
            value = x_sq[r] - np.float32(2.0) * dot + q_sq
            distances[count] = value if value > 0 else np.float32(0.0)
            rows[count] = r
            count += 1
    return count


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
        # The index keeps the only copy of the vectors, in cell order (`vectors` reads them).
        self.X = X[self.order]
        self.x_sq = (self.X.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        self.n_lists = lists
        return self

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        Q = np.atleast_2d(np.asarray(Q, dtype=np.float32))
        probe = min(self.n_probe, self.n_lists or 1)
        cells = ExactIndex().fit(self.centres).search(Q, probe)[0]
        out_idx = np.full((len(Q), k), -1, dtype=np.int64)
        out_dist = np.full((len(Q), k), np.inf, dtype=np.float32)
        for q, query in enumerate(Q):
            starts, ends = self.offsets[cells[q]], self.offsets[cells[q] + 1]
            total = int((ends - starts).sum())
            if not total:
                continue
            rows = np.empty(total, dtype=np.int64)
            distances = np.empty(total, dtype=np.float32)
            _scan_runs(self.X, self.x_sq, starts, ends, query, np.float32(query @ query), rows, distances)
            idx, dist = _top_k(distances[None, :], k)
            m = idx.shape[1]
            out_idx[q, :m] = self.order[rows[idx[0]]]
            out_dist[q, :m] = dist[0]
        return out_idx, out_dist

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
