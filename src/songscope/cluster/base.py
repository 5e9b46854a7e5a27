"""The clustering algorithm protocol and the result every algorithm returns, on either backend.

An algorithm is built with its parameters (``n_clusters``, ``random_state``, ...) and does its work
in ``fit(X)``, where ``X`` is the shared feature space (rows in catalogue order). It returns a
`ClusterResult`: labels in the same order, centres in the same space, and what it took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

NOISE = -1  # the label density methods give to points in no cluster


@dataclass
class ClusterResult:
    """A clustering: labels, centres in the shared space, parameters and timings.

    ``centres[i]`` is the centre of cluster ``i`` (labels run 0..k-1; -1 is noise). For methods
    without centres of their own (density, agglomerative) it is the mean of the members.
    """

    labels: np.ndarray
    centres: np.ndarray
    backend: str
    algorithm: str
    params: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    n_iter: int | None = None
    #: Predicts labels for new points; None where the algorithm cannot (DBSCAN, agglomerative).
    predictor: Any = field(default=None, repr=False)

    @property
    def n_clusters(self) -> int:
        return int(len(self.centres))

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels[self.labels >= 0], minlength=self.n_clusters)

    @property
    def noise_share(self) -> float:
        return float(np.mean(self.labels == NOISE)) if len(self.labels) else 0.0

    def predict(self, points: np.ndarray) -> np.ndarray:
        """Cluster labels for new points of the same space."""
        if self.predictor is None:
            raise NotImplementedError(
                f"{self.algorithm} cannot assign new songs to its clusters; use kmeans, bisecting-kmeans, "
                "minibatch-kmeans or gmm"
            )
        return np.asarray(self.predictor(np.asarray(points)), dtype=np.int64)

    def to_pandas(self, track_ids: Any = None) -> pd.DataFrame:
        """One row per song: its track id (when given) and cluster."""
        frame = pd.DataFrame({"cluster": self.labels})
        if track_ids is not None:
            frame.insert(0, "track_id", np.asarray(track_ids))
        return frame


@runtime_checkable
class Algorithm(Protocol):
    """Clusters the rows of a feature matrix (k-means and friends, local or Spark MLlib)."""

    name: str
    algorithm: str

    def fit(self, X: np.ndarray) -> ClusterResult: ...


def nearest_centres(X: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (squared Euclidean, ties to the lower number) and its Euclidean
    distance to it: the one nearest-centre rule of every backend's predictor, assign pass and drift.

    >>> nearest_centres(np.array([[0.0, 0], [4, 4]]), np.array([[0.0, 1], [5, 5]]))[0].tolist()
    [0, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    # |c|^2 - 2 x.c orders the centres as |x - c|^2 does; |x|^2 is added for the distance only.
    partial = (centres**2).sum(axis=1)[None, :] - 2.0 * X @ centres.T
    nearest = partial.argmin(axis=1)
    squared = (X**2).sum(axis=1) + partial[np.arange(len(X)), nearest]
    return nearest, np.sqrt(np.maximum(squared, 0.0))


def nearest_centre_predictor(centres: np.ndarray):
    """A predictor that assigns each point to its nearest centre (`nearest_centres`)."""
    centres = np.asarray(centres, dtype=np.float64)

    def predict(points: np.ndarray) -> np.ndarray:
        return nearest_centres(points, centres)[0]

    return predict


def relabel_by_size(labels: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber clusters from largest to smallest (ties by the centre's coordinates), so that
    runs on different backends with the same partition also carry the same numbers."""
    k = len(centres)
    if k == 0:  # a density method that found no cluster: every song is noise
        return labels, centres
    order = size_order(np.bincount(labels[labels >= 0], minlength=k), centres)
    new_number = np.empty(k, dtype=np.int64)
    new_number[order] = np.arange(k)
    relabelled = np.where(labels >= 0, new_number[np.maximum(labels, 0)], labels)
    return relabelled, centres[order]


def size_order(sizes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Clusters from largest to smallest, ties by the centre's coordinates: ``order[new] = old``."""
    return np.lexsort(tuple(np.asarray(centres).T[::-1]) + (-np.asarray(sizes),))


def member_means(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean of each cluster's members (clusters 0..max label; noise ignored)."""
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if k == 0:
        return np.zeros((0, X.shape[1]))
    kept = labels >= 0
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels[kept], X[kept])
    counts = np.bincount(labels[kept], minlength=k)[:, None]
    return sums / np.maximum(counts, 1)
