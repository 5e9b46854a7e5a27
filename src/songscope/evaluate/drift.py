"""Drift: how well a run's clusters fit songs that arrived after it was fitted.

A new song is assigned to the cluster whose centre is nearest (in the run's own feature space).
Whether it fits is judged against the songs the run was fitted on: a song "fits no cluster well"
when it is farther from its centre than 95% of that cluster's fitted songs are from theirs. By
construction 5% of fitted songs are that far; many more of the new songs means the catalogue has
moved away from the clusters, and it is time to cluster again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songscope.errors import UserError

#: A fitted song is this far out (its cluster's quantile of distances) at most this often.
FIT_QUANTILE = 0.95
#: Re-cluster when the new songs fitting no cluster well are this many times the fitted share ...
POOR_FIT_FACTOR = 3.0
#: ... or when the new songs are this share of the catalogue.
NEW_SHARE_LIMIT = 0.25
#: A cluster needs this many fitted songs in the reference for its own quantile (else: all songs').
MIN_REFERENCE = 20


@dataclass
class FitReference:
    """Per cluster, the distance within which `FIT_QUANTILE` of its fitted songs lie."""

    limits: dict[int, float]
    overall: float
    median: float
    songs: int  # fitted songs the reference was measured on

    @classmethod
    def measure(cls, distances: np.ndarray, labels: np.ndarray) -> FitReference:
        """From fitted songs' distances to their own cluster's centre (labels < 0, noise, left out)."""
        keep = labels >= 0
        distances, labels = distances[keep], labels[keep]
        if not len(distances):
            raise UserError("the run's fitted songs have no cluster to measure fit against")
        overall = float(np.quantile(distances, FIT_QUANTILE))
        limits = {int(c): float(np.quantile(distances[labels == c], FIT_QUANTILE))
                  for c in np.unique(labels) if (labels == c).sum() >= MIN_REFERENCE}
        return cls(limits, overall, float(np.median(distances)), int(len(distances)))

    def fits(self, distances: np.ndarray, clusters: np.ndarray) -> np.ndarray:
        limit = np.array([self.limits.get(int(c), self.overall) for c in clusters], dtype=np.float64)
        return distances <= limit


@dataclass
class Drift:
    """How the new songs sit against the run's clusters, and whether to cluster again."""

    run_id: str
    new_songs: int
    fitted_songs: int
    median_distance_new: float | None
    median_distance_fitted: float
    poor_fit_share: float | None
    per_cluster: list[dict[str, Any]] = field(default_factory=list)

    @property
    def new_share(self) -> float:
        total = self.new_songs + self.fitted_songs
        return self.new_songs / total if total else 0.0

    @property
    def recluster(self) -> bool:
        poor = self.poor_fit_share is not None and self.poor_fit_share > POOR_FIT_FACTOR * (1 - FIT_QUANTILE)
        return bool(poor or self.new_share > NEW_SHARE_LIMIT)

    def advice(self) -> str:
        """The verdict in a sentence."""
        expected = 1 - FIT_QUANTILE
        if self.new_songs == 0:
            return f"no songs have arrived since run {self.run_id} was fitted: its clusters cover the catalogue"
        poor = self.poor_fit_share or 0.0
        measured = (f"{poor:.0%} of the {self.new_songs:,} new songs fit no cluster well ({expected:.0%} of the fitted songs do, by construction), "
                    f"and the new songs are {self.new_share:.0%} of the catalogue")
        if self.recluster:
            return f"re-cluster: {measured}"
        return (f"the clusters still fit: {measured}; re-cluster when more than {POOR_FIT_FACTOR * expected:.0%} fit no cluster well "
                f"or new songs pass {NEW_SHARE_LIMIT:.0%} of the catalogue")

    def to_dict(self) -> dict[str, Any]:
        ratio = None if self.median_distance_new is None else self.median_distance_new / self.median_distance_fitted
        return {"run_id": self.run_id, "new_songs": self.new_songs, "fitted_songs": self.fitted_songs, "new_share": round(self.new_share, 4),
                "median_distance_new": self.median_distance_new, "median_distance_fitted": self.median_distance_fitted,
                "distance_ratio": None if ratio is None else round(ratio, 4), "poor_fit_share": self.poor_fit_share,
                "expected_poor_fit_share": round(1 - FIT_QUANTILE, 4), "recluster": self.recluster, "advice": self.advice(),
                "per_cluster": self.per_cluster}
