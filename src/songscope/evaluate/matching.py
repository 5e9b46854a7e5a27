"""Stable cluster identities: which cluster of one run continues which cluster of another.

Cluster numbers are arbitrary to an algorithm, so a re-clustered catalogue would call its
"acoustic" cluster 3 one week and 0 the next. Two runs' clusters are matched by their members,
over the songs both runs label: Jaccard = shared songs / songs in either, and the one-to-one
matching with the most total Jaccard (the Hungarian method, scipy's `linear_sum_assignment`).
A new run's clusters are then numbered as the ones they continue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Below this Jaccard a cluster is not taken to continue one of the other run (it is new).
MIN_JACCARD = 0.2


def shared_songs(a: np.ndarray, b: np.ndarray, k_a: int, k_b: int) -> np.ndarray:
    """How many songs each cluster pair (a's i, b's j) shares, over the songs both label (noise,
    < 0, left out): the counts every figure here is computed from. A backend that cannot bring
    the labels together (Spark) counts the pairs itself.

    >>> shared_songs(np.array([0, 0, 1, -1]), np.array([1, 1, 0, 0]), 2, 2).tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """
    both = (a >= 0) & (b >= 0)
    a, b = a[both].astype(np.int64), b[both].astype(np.int64)
    shared = np.zeros((k_a, k_b))
    np.add.at(shared, (a, b), 1)
    return shared


def jaccard_of(shared: np.ndarray) -> np.ndarray:
    """Jaccard of every cluster pair from `shared_songs`: shared songs / songs in either."""
    size_a, size_b = shared.sum(axis=1), shared.sum(axis=0)
    union = size_a[:, None] + size_b[None, :] - shared
    return np.divide(shared, union, out=np.zeros_like(shared, dtype=np.float64), where=union > 0)


def jaccard_matrix(a: np.ndarray, b: np.ndarray, k_a: int, k_b: int) -> np.ndarray:
    """Jaccard of every cluster pair (a's i, b's j) over the songs both label (noise, < 0, left out).

    >>> jaccard_matrix(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), 2, 2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    return jaccard_of(shared_songs(a, b, k_a, k_b))


@dataclass
class Matching:
    """One-to-one matches of `a`'s clusters to `b`'s: pairs (a cluster, b cluster, Jaccard)."""

    pairs: list[tuple[int, int, float]]

    @classmethod
    def between(cls, jaccard: np.ndarray, min_jaccard: float = MIN_JACCARD) -> Matching:
        from scipy.optimize import linear_sum_assignment

        rows, columns = linear_sum_assignment(-jaccard)
        return cls([(int(r), int(c), float(jaccard[r, c])) for r, c in zip(rows, columns) if jaccard[r, c] >= min_jaccard])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.pairs, columns=["a", "b", "jaccard"])


def continuing_numbers(previous: np.ndarray, current: np.ndarray, k_previous: int, k_current: int) -> tuple[np.ndarray, list[dict]]:
    """New numbers (0..k_current-1) for the current run's clusters, so that each one that
    continues a previous cluster carries that cluster's number where it can; and what continues
    what. ``numbers[c]`` is the new number of current cluster ``c``.

    >>> continuing_numbers(np.array([0, 0, 1, 1, 2]), np.array([1, 1, 0, 0, 0]), 3, 2)[0].tolist()
    [1, 0]
    """
    return continuing_numbers_of(shared_songs(current, previous, k_current, k_previous))


def continuing_numbers_of(shared: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """`continuing_numbers` from the songs each (current, previous) cluster pair shares, a
    (k_current, k_previous) array of counts (`shared_songs`)."""
    jaccard = jaccard_of(shared)
    k_current, k_previous = jaccard.shape
    # Only numbers 0..k_current-1 exist in the new run: a previous cluster numbered beyond them
    # cannot lend its number, and a cluster continuing it takes a free one.
    usable = np.zeros((k_current, k_current))
    width = min(k_previous, k_current)
    usable[:, :width] = jaccard[:, :width]
    from scipy.optimize import linear_sum_assignment

    rows, numbers_of_rows = linear_sum_assignment(-usable)
    numbers = np.empty(k_current, dtype=np.int64)
    numbers[rows] = numbers_of_rows
    best = Matching.between(jaccard)
    continues = {c: (p, j) for c, p, j in best.pairs}
    identities = [{"cluster": int(numbers[c]), "was": int(c), "continues": continues[c][0] if c in continues else None,
                   "jaccard": round(continues[c][1], 4) if c in continues else None} for c in range(k_current)]
    return numbers, sorted(identities, key=lambda row: row["cluster"])
