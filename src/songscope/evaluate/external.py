"""External validity against labels a data set carries (e.g. TidyTuesday's playlist genres), and
agreement between two partitions of the same songs (ARI, NMI, homogeneity, completeness).

The agreement indices are computed here from the contingency table, with scikit-learn's
definitions (NMI with the arithmetic-mean normaliser, natural logarithms) and its conventions for
degenerate partitions; a test checks them against scikit-learn. Importing scikit-learn costs a
second or more of a cold start, which `songscope run` cannot spare for four sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of songs in each (class of `a`, class of `b`) pair; labels may be any values."""
    _, codes_a = np.unique(np.asarray(a), return_inverse=True)
    _, codes_b = np.unique(np.asarray(b), return_inverse=True)
    width = int(codes_b.max()) + 1 if len(codes_b) else 1
    height = int(codes_a.max()) + 1 if len(codes_a) else 1
    return np.bincount(codes_a.ravel() * width + codes_b.ravel(), minlength=height * width).reshape(height, width)


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie): 1 for identical partitions, about 0 for random ones.

    >>> adjusted_rand(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7]))
    1.0
    """
    table = contingency(a, b)
    n = int(table.sum())
    both = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2) if n > 1 else 0.0
    best = (rows + cols) / 2
    if best == expected:  # both partitions trivial (one class, or every song alone): they agree
        return 1.0
    return float((both - expected) / (best - expected))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def information_scores(truth: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """Normalised mutual information, homogeneity (each cluster holds one class) and completeness
    (each class sits in one cluster) of `clusters` against `truth`."""
    table = contingency(truth, clusters).astype(np.float64)
    n = table.sum()
    h_truth, h_clusters = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    nz = table > 0
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))
    mi = float((table[nz] / n * (np.log(table[nz] * n) - np.log(outer[nz]))).sum()) if n else 0.0
    mi = max(mi, 0.0)
    if table.shape == (1, 1):
        nmi = 1.0  # one class and one cluster: perfect agreement by convention
    else:
        nmi = mi / max((h_truth + h_clusters) / 2, np.finfo(np.float64).eps)
    return {
        "nmi": float(nmi),
        "homogeneity": 1.0 if h_truth == 0 else mi / h_truth,
        "completeness": 1.0 if h_clusters == 0 else mi / h_clusters,
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
    y, c = truth[keep].to_numpy(), np.asarray(labels)[keep]
    return {"n": int(keep.sum()), "ari": adjusted_rand(y, c)} | information_scores(y, c)
