"""External validity against labels a data set carries (e.g. TidyTuesday's playlist genres), and
agreement between two partitions of the same songs (ARI, NMI, homogeneity, completeness).

The indices are scikit-learn's (``sklearn.metrics``; NMI with the arithmetic-mean normaliser),
imported when first used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of songs in each (class of `a`, class of `b`) pair; labels may be any values, rows
    and columns in sorted label order.

    >>> contingency(np.array([0, 0, 1]), np.array(["x", "y", "y"])).tolist()
    [[1, 1], [0, 1]]
    """
    from sklearn.metrics.cluster import contingency_matrix

    return contingency_matrix(np.asarray(a), np.asarray(b))


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie): 1 for identical partitions, about 0 for random ones.

    >>> adjusted_rand(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7]))
    1.0
    """
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.asarray(a), np.asarray(b)))


def information_scores(truth: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """Normalised mutual information, homogeneity (each cluster holds one class) and completeness
    (each class sits in one cluster) of `clusters` against `truth`."""
    from sklearn.metrics import homogeneity_completeness_v_measure, normalized_mutual_info_score

    truth, clusters = np.asarray(truth), np.asarray(clusters)
    homogeneity, completeness, _ = homogeneity_completeness_v_measure(truth, clusters)
    return {
        "nmi": float(normalized_mutual_info_score(truth, clusters)),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
    }


def primary_label(values: pd.Series, separator: str = "|") -> pd.Series:
    """The first of several labels joined with `separator` (a track listed under several genres)."""
    return values.astype("string").str.split(separator, regex=False).str[0]


def external_indices(labels: np.ndarray, truth: pd.Series) -> dict[str, float]:
    """ARI, NMI, homogeneity and completeness of a clustering against known labels.

    Songs without a label, and noise points, are left out; ``n`` says how many were compared.

    >>> external_indices(np.array([0, 0, 1, 1]), pd.Series(["rock", "rock", "pop", "pop"]))["ari"]
    1.0
    """
    truth = primary_label(pd.Series(truth).reset_index(drop=True))
    keep = truth.notna().to_numpy() & (np.asarray(labels) >= 0)
    y, c = truth[keep].to_numpy(dtype=object).astype(str), np.asarray(labels)[keep]
    return {"n": int(keep.sum()), "ari": adjusted_rand(y, c)} | information_scores(y, c)
