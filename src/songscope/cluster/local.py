"""The local clustering algorithms: the scikit-learn family, plus songscope's own k-means kernel.

Algorithms: kmeans, minibatch-kmeans, bisecting-kmeans, gmm, hdbscan, dbscan, agglomerative.

``kmeans`` runs songscope's own Lloyd kernel (`songscope.cluster._lloyd`): the same iterations
and the same result as scikit-learn's ``KMeans`` from the same seeds (scikit-learn's k-means++),
measured faster; `bench/kmeans.py` measures both in one run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songscope.cluster.base import ClusterResult, member_means, nearest_centre_predictor, relabel_by_size
from songscope.cluster.kmeans import kmeans_plus_plus, lloyd
from songscope.errors import UserError

ALGORITHMS = ("kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "hdbscan", "dbscan", "agglomerative")
#: Agglomerative clustering needs O(n^2) memory; above this it is refused with the alternatives.
AGGLOMERATIVE_MAX_ROWS = 30_000
#: DBSCAN and HDBSCAN slow down sharply past this (seconds at 15k, minutes at 100k): they fit on a
#: fixed-seed sample of this size and the rest of the songs join their nearest cluster's centre.
DENSITY_MAX_ROWS = 50_000


@dataclass
class LocalAlgorithm:
    """Clusters with scikit-learn's algorithms (and songscope's own k-means kernel).

    Examples
    --------
    >>> X = np.vstack([np.zeros((50, 2)), np.ones((50, 2)) * 5]) + np.random.default_rng(0).normal(0, 0.1, (100, 2))
    >>> result = LocalAlgorithm("kmeans", n_clusters=2).fit(X)
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
            raise UserError(f"unknown algorithm {self.algorithm!r} on the local backend; choose one of {', '.join(ALGORITHMS)}")
        if self.algorithm not in ("hdbscan", "dbscan") and self.n_clusters < 1:
            raise UserError(f"n_clusters must be at least 1, not {self.n_clusters}")

    def fit(self, X: np.ndarray) -> ClusterResult:
        X = np.asarray(X, dtype=np.float64)
        if self.algorithm in ("kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "agglomerative") and len(X) < self.n_clusters:
            raise UserError(f"{len(X)} songs cannot form {self.n_clusters} clusters")
        started = time.perf_counter()
        fit = getattr(self, "_fit_" + self.algorithm.replace("-", "_"))
        labels, centres, n_iter, predictor, used = fit(X)
        labels = np.asarray(labels, dtype=np.int64)
        labels, centres = relabel_by_size(labels, np.asarray(centres, dtype=np.float64))
        if predictor is not None and self.algorithm in ("kmeans", "minibatch-kmeans"):
            predictor = nearest_centre_predictor(centres)
        elif predictor is not None:
            predictor = _relabelled(predictor, labels, X)
        return ClusterResult(
            labels=labels,
            centres=centres,
            backend=self.name,
            algorithm=self.algorithm,
            params={"n_clusters": int(len(centres)), "random_state": self.random_state, **used},
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
            labels, centres, inertia, n_iter = lloyd(X, seeds, max_iter=self.max_iter, tol=tol)
            if best is None or inertia < best[2]:
                best = (labels, centres, inertia, n_iter)
        labels, centres, _, n_iter = best
        return labels, centres, n_iter, True, {"n_init": self.n_init, "max_iter": self.max_iter, "tol": tol}

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
            raise UserError(
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
            labels[rest] = nearest_centre_predictor(member_means(X[sample], sample_labels))(X[rest])
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
