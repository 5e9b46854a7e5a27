"""k-means: songscope's public entry points over its own Lloyd kernel (`_lloyd`, numba).

`lloyd` checks its input and runs the private kernel, as scikit-learn's public `kmeans_plusplus`
runs its private `_kmeans_plusplus`; `kmeans_plus_plus` seeds it. Any package that needs k-means
(the local backend, the k sweep, the recommender's index) imports this module, never `_lloyd`.
"""

from __future__ import annotations

import numpy as np

from songscope.cluster import _lloyd
from songscope.errors import UserError

#: k-means++ seeds from a fixed-seed sample of at most this many rows (see `kmeans_plus_plus`).
SEEDING_MAX_ROWS = 200_000


def lloyd(X: np.ndarray, centres: np.ndarray, *, max_iter: int = 300, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd's k-means of the rows of `X` from `centres`: labels, centres, inertia and iterations.

    Converges as scikit-learn's ``KMeans(algorithm="lloyd")`` does (centres moving less than
    ``tol`` times the mean feature variance, or no row changing centre); float32 distances, all
    cores (see `_lloyd`). tests/cluster/test_lloyd.py checks it against scikit-learn.

    >>> labels, centres, inertia, n_iter = lloyd(np.array([[0.0, 0], [0, 1], [9, 9]]), np.array([[0.0, 0], [9, 9]]))
    >>> labels.tolist(), round(inertia, 3)
    ([0, 0, 1], 0.5)
    """
    X = np.asarray(X)
    centres = np.asarray(centres)
    if X.ndim != 2 or centres.ndim != 2 or centres.shape[1] != X.shape[1]:
        raise ValueError(f"lloyd needs rows and centres of the same width, not {X.shape} and {centres.shape}")
    if not 1 <= len(centres) <= len(X):
        raise UserError(f"lloyd needs 1 <= k <= {len(X)} rows, not k = {len(centres)}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, not {max_iter}")
    return _lloyd.lloyd(X, centres, max_iter=max_iter, tol=tol)


def inertia_of(X: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> float:
    """Sum of squared distances of the rows of `X` to their assigned centres, in float64, on all cores.

    >>> inertia_of(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]), np.array([[1.0, 0.0]]))
    2.0
    """
    return _lloyd.inertia_of(X, labels, centres)


def kmeans_plus_plus(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ seeds (scikit-learn's greedy ``kmeans_plusplus``: ``2 + ln k`` candidates per
    centre), on a fixed-seed sample of at most `SEEDING_MAX_ROWS` rows: seeding cost grows with rows times
    k, and a sample that large places the seeds as well as all the rows would.

    >>> kmeans_plus_plus(np.array([[0.0, 0], [0, 1], [9, 9]]), 2, 0).shape
    (2, 2)
    """
    from sklearn.cluster import kmeans_plusplus

    rng = np.random.default_rng(seed)
    pool = X if len(X) <= SEEDING_MAX_ROWS else X[np.sort(rng.choice(len(X), SEEDING_MAX_ROWS, replace=False))]
    if not 1 <= k <= len(pool):
        raise UserError(f"k-means++ needs 1 <= k <= {len(pool)} songs, not k = {k}")
    centres, _ = kmeans_plusplus(np.ascontiguousarray(pool, dtype=np.float64), k, random_state=seed)
    return centres
