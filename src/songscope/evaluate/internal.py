"""Internal validity indices, computed by songscope in the shared feature space for every engine.

Never taken from an engine's own summary: Spark's ClusteringEvaluator silhouette, for one, uses
squared distances and reads 0.53 where the Euclidean definition reads 0.36 on the same clustering.
Davies-Bouldin, Calinski-Harabasz and trustworthiness are scikit-learn's; the silhouette is
songscope's exact kernel (`songscope.evaluate.silhouette`, measured faster than scikit-learn's and
tested equal to it).
"""

from __future__ import annotations

import numpy as np

from songscope.evaluate.silhouette import SILHOUETTE_EXACT_MAX, silhouette


def within_sse(X: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of each song to its cluster's mean (noise left out)."""
    kept = labels >= 0
    total = 0.0
    for cluster in np.unique(labels[kept]):
        members = X[labels == cluster]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def davies_bouldin(X: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index (lower is better), scikit-learn's.

    >>> round(davies_bouldin(np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]]), np.array([0, 0, 1, 1])), 3)
    0.2
    """
    from sklearn.metrics import davies_bouldin_score

    return float(davies_bouldin_score(np.asarray(X, dtype=np.float64), labels))


def calinski_harabasz(X: np.ndarray, labels: np.ndarray) -> float:
    """Calinski-Harabasz index (higher is better), scikit-learn's.

    >>> calinski_harabasz(np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]]), np.array([0, 0, 1, 1]))
    50.0
    """
    from sklearn.metrics import calinski_harabasz_score

    return float(calinski_harabasz_score(np.asarray(X, dtype=np.float64), labels))


def trustworthiness(X: np.ndarray, embedded: np.ndarray, n_neighbors: int = 10) -> float:
    """How far a 2-D map keeps each song's neighbours (Venna & Kaski; scikit-learn's): 1 is
    perfect, a random map scores about 0.5. Quadratic in songs: meant for a sample of a few thousand."""
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    n = len(X)
    if not 1 <= n_neighbors < n / 2:
        raise ValueError(f"n_neighbors must be at least 1 and below half the songs ({n}), not {n_neighbors}")
    return float(sklearn_trustworthiness(np.asarray(X, dtype=np.float64), np.asarray(embedded, dtype=np.float64), n_neighbors=n_neighbors))


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
