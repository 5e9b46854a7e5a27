"""Cluster profiles: which features differ between clusters (with effect sizes), and each cluster
described in words from its medians against the catalogue's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from songscope.artists import credits
from songscope.schema import POPULARITY, SPOTIFY, FeatureSet

#: |median difference| in IQR units above which a feature is worth naming in a description.
NOTABLE = 0.5


def kruskal_wallis(values: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Kruskal-Wallis H (tie-corrected) of `values` across `groups` and its p-value, by scipy's
    ``stats.kruskal``. Missing values are left out; all values equal: H = 0, p = 1 (no difference,
    where scipy refuses the question).

    >>> kruskal_wallis(np.ones(6), np.array([0, 0, 0, 1, 1, 1]))
    (0.0, 1.0)
    """
    from scipy.stats import kruskal

    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    present = ~np.isnan(values)
    values, groups = values[present], groups[present]
    if len(values) == 0 or np.all(values == values[0]):
        return 0.0, 1.0
    samples = [values[groups == g] for g in np.unique(groups)]
    if len(samples) < 2:
        return 0.0, 1.0
    result = kruskal(*samples)
    return float(result.statistic), float(result.pvalue)


def format_p_value(p: float) -> str:
    """A p-value as text that never reads 0: scientific below 0.001, ``< 1e-300`` below what a
    double holds.

    >>> [format_p_value(p) for p in (0.2, 0.0004, 0.0)]
    ['0.200', '4.0e-04', '< 1e-300']
    """
    if p != p:
        return ""
    if p < 1e-300:
        return "< 1e-300"
    return f"{p:.3f}" if p >= 1e-3 else f"{p:.1e}"


def feature_tests(tracks: pd.DataFrame, labels: np.ndarray, features: list[str]) -> pd.DataFrame:
    """Kruskal-Wallis H across clusters per feature, its p-value and epsilon-squared effect size
    (H / (n - 1): 0.01 small, 0.08 medium, 0.26 large), strongest first."""
    kept = labels >= 0
    rows = []
    n = int(kept.sum())
    for feature in features:
        values = pd.to_numeric(tracks[feature], errors="coerce").to_numpy(dtype=float)[kept]
        h, p = kruskal_wallis(values, labels[kept])
        rows.append({"feature": feature, "H": float(h), "p_value": float(p), "epsilon_squared": float(h / (n - 1))})
    return pd.DataFrame(rows).sort_values("epsilon_squared", ascending=False, ignore_index=True)


def describe_clusters(tracks: pd.DataFrame, labels: np.ndarray, features: list[str], top_artists: int = 3,
                      feature_set: FeatureSet = SPOTIFY) -> pd.DataFrame:
    """Per cluster: size, description in words (the `feature_set`'s words for high and low
    values, and popularity's), the median shifts behind it, top artists."""
    named = feature_set.words() | {POPULARITY.name: (POPULARITY.high, POPULARITY.low)}
    values = tracks[features].apply(pd.to_numeric, errors="coerce").astype(float)
    median = values.median()
    iqr = (values.quantile(0.75) - values.quantile(0.25)).replace(0, np.nan).fillna(values.std()).replace(0, 1.0)
    rows = []
    for cluster in np.unique(labels[labels >= 0]):
        members = labels == cluster
        shift = (values[members].median() - median) / iqr
        notable = shift[shift.abs() >= NOTABLE].sort_values(key=np.abs, ascending=False).head(4)
        words = [(named.get(f, (f"high {f}", f"low {f}"))[0 if v > 0 else 1]) for f, v in notable.items()]
        artists = credits(tracks.loc[members]).value_counts().head(top_artists)  # every artist of a song counts
        rows.append(
            {
                "cluster": int(cluster),
                "size": int(members.sum()),
                "description": ", ".join(words) if words else "close to the catalogue's middle",
                "shifts": {f: round(float(v), 2) for f, v in shift.items()},
                "top_artists": "; ".join(f"{a} ({c})" for a, c in artists.items()),
            }
        )
    return pd.DataFrame(rows)
