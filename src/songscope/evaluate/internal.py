"""Internal validity indices, computed by songscope in the shared feature space for every engine.

Never taken from an engine's own summary: Spark's ClusteringEvaluator silhouette, for one, uses
squared distances and reads 0.53 where the Euclidean definition reads 0.36 on the same clustering.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

#: Silhouette is exact up to this many songs, else computed on a fixed-seed sample of this size.
SILHOUETTE_EXACT_MAX = 20_000


def within_sse(X: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of each song to its cluster's mean (noise left out)."""
    kept = labels >= 0
    total = 0.0
    for cluster in np.unique(labels[kept]):
        members = X[labels == cluster]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


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
    out["silhouette"] = float(silhouette_score(Xk, lk, sample_size=sample, random_state=seed))
    out["silhouette_n"] = int(sample or len(Xk))
    out["davies_bouldin"] = float(davies_bouldin_score(Xk, lk))
    out["calinski_harabasz"] = float(calinski_harabasz_score(Xk, lk))
    return out
