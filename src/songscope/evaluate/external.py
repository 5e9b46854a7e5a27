"""External validity against labels a data set carries (e.g. TidyTuesday's playlist genres)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, completeness_score, homogeneity_score, normalized_mutual_info_score


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
    return {
        "n": int(keep.sum()),
        "ari": float(adjusted_rand_score(y, c)),
        "nmi": float(normalized_mutual_info_score(y, c)),
        "homogeneity": float(homogeneity_score(y, c)),
        "completeness": float(completeness_score(y, c)),
    }
