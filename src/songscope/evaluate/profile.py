"""Cluster profiles: which features differ between clusters (with effect sizes), and each cluster
described in words from its medians against the catalogue's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: |median difference| in IQR units above which a feature is worth naming in a description.
NOTABLE = 0.5

_WORDS = {
    "danceability": ("danceable", "not danceable"),
    "energy": ("energetic", "calm"),
    "loudness": ("loud", "quiet"),
    "speechiness": ("speechy", "little speech"),
    "acousticness": ("acoustic", "electric"),
    "instrumentalness": ("instrumental", "vocal"),
    "liveness": ("live-sounding", "studio-sounding"),
    "valence": ("happy", "sad"),
    "tempo": ("fast", "slow"),
    "duration_ms": ("long", "short"),
    "popularity": ("popular", "obscure"),
}


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-squared with an integer `df` (the closed-form series for integer
    degrees of freedom, summed in log space so p-values down to 1e-300 survive).

    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, not {df}")
    if x <= 0:
        return 1.0
    y = x / 2
    half, odd = divmod(df, 2)
    # Even df: e^-y sum_{i<half} y^i / i!; odd df: erfc(sqrt(y)) + e^-y sum_{i<half} y^(i+1/2) / Gamma(i+3/2).
    offset = 0.5 if odd else 0.0
    logs = [(i + offset) * math.log(y) - math.lgamma(i + 1 + offset) - y for i in range(half)]
    total = 0.0
    if logs:
        top = max(logs)
        total = math.exp(top) * math.fsum(math.exp(v - top) for v in logs)
    if odd:
        total += math.erfc(math.sqrt(y))
    return min(total, 1.0)


def kruskal_wallis(values: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Kruskal-Wallis H (tie-corrected) of `values` across `groups`, and its chi-squared p-value,
    as scipy's ``stats.kruskal`` computes them. Missing values are left out; all values equal:
    H = 0, p = 1 (no difference)."""
    values = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(values)
    values = values[present]
    _, codes = np.unique(np.asarray(groups)[present], return_inverse=True)
    n = len(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ties = np.diff(np.r_[starts, n])
    average_rank = starts + (ties + 1) / 2  # 1-based mean rank of each run of equal values
    ranks = np.empty(n)
    ranks[order] = np.repeat(average_rank, ties)
    sizes = np.bincount(codes)
    rank_sums = np.bincount(codes, weights=ranks)
    correction = 1.0 - float((ties.astype(np.float64) ** 3 - ties).sum()) / (float(n) ** 3 - n)
    if correction <= 0:
        return 0.0, 1.0
    h = (12.0 / (n * (n + 1)) * float((rank_sums**2 / sizes).sum()) - 3.0 * (n + 1)) / correction
    return h, chi2_sf(h, len(sizes) - 1)


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


def describe_clusters(tracks: pd.DataFrame, labels: np.ndarray, features: list[str], top_artists: int = 3) -> pd.DataFrame:
    """Per cluster: size, description in words, the median shifts behind it, top artists."""
    values = tracks[features].apply(pd.to_numeric, errors="coerce").astype(float)
    median = values.median()
    iqr = (values.quantile(0.75) - values.quantile(0.25)).replace(0, np.nan).fillna(values.std()).replace(0, 1.0)
    rows = []
    for cluster in np.unique(labels[labels >= 0]):
        members = labels == cluster
        shift = (values[members].median() - median) / iqr
        notable = shift[shift.abs() >= NOTABLE].sort_values(key=np.abs, ascending=False).head(4)
        words = [(_WORDS.get(f, (f"high {f}", f"low {f}"))[0 if v > 0 else 1]) for f, v in notable.items()]
        artists = tracks.loc[members, "artist_name"].value_counts().head(top_artists)
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
