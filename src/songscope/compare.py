"""Two clustering runs side by side: the same metrics in the same space, agreement, sizes, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from songscope.errors import UserError
from songscope.evaluate.external import adjusted_rand, information_scores
from songscope.evaluate.internal import internal_indices
from songscope.evaluate.matching import Matching, jaccard_matrix
from songscope.features import FeatureSpace


@dataclass
class Comparison:
    runs: pd.DataFrame  # one row per run: engine, algorithm, k, metrics, timings
    agreement: dict[str, float]
    contingency: pd.DataFrame
    sizes: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)  # name -> Plotly figure, when asked for
    #: Which cluster of B continues which of A (`evaluate.matching`): a, b, jaccard, with their descriptions.
    matching: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["a", "b", "jaccard"]))

    def to_dict(self) -> dict[str, Any]:
        import json

        from songscope.jsonable import jsonable

        return jsonable({
            "runs": self.runs, "agreement": self.agreement, "contingency": self.contingency.to_dict(),
            "sizes": {name: self.sizes[name].tolist() for name in self.sizes}, "figures": {k: json.loads(f.to_json()) for k, f in self.figures.items()},
            "matching": self.matching,
        })


def compare_runs(run_a, run_b, catalogue: pd.DataFrame, *, seed: int = 0) -> Comparison:
    """Compare two stored runs (`store.runs.ClusterRun`) over their common songs.

    Both are measured in run A's feature space, rebuilt from its saved JSON, so the numbers are
    comparable whatever engine or algorithm produced each run.
    """
    a, b = run_a.assignments, run_b.assignments
    common = catalogue[["track_id"]].merge(a, on="track_id").merge(b, on="track_id", suffixes=("_a", "_b"))
    if common.empty:
        raise UserError("the two runs share no songs: they clustered different catalogues")
    space = FeatureSpace.from_dict(run_a.space)
    tracks = catalogue.set_index("track_id").loc[common["track_id"]].reset_index()
    X = space.transform(tracks)
    la, lb = common["cluster_a"].to_numpy(), common["cluster_b"].to_numpy()
    rows = []
    for name, run, labels in (("A", run_a, la), ("B", run_b, lb)):
        metrics = internal_indices(X, labels, seed=seed)
        timings = run.timings
        rows.append(
            {
                "run": name, "run_id": run.run_id, "engine": run.engine, "algorithm": run.algorithm, "k": run.k,
                "silhouette": metrics["silhouette"], "davies_bouldin": metrics["davies_bouldin"],
                "calinski_harabasz": metrics["calinski_harabasz"], "sse": metrics["sse"],
                "cluster_s": timings.get("cluster_s"), "engine_fit_s": timings.get("engine_fit_s"),
            }
        )
    contingency = pd.crosstab(pd.Series(la, name="A"), pd.Series(lb, name="B"))
    # Share of songs that stay together: for each A cluster, the share of it in its best B match.
    best_match = (contingency.max(axis=1) / contingency.sum(axis=1)).to_numpy()
    agreement = {
        "songs": int(len(common)),
        "ari": adjusted_rand(la, lb),
        "nmi": information_scores(la, lb)["nmi"],
        "best_match_share": float(np.average(best_match, weights=contingency.sum(axis=1))),
    }
    sizes = pd.DataFrame({"A": pd.Series(la).value_counts().sort_index(), "B": pd.Series(lb).value_counts().sort_index()}).fillna(0).astype(int)
    matching = Matching.between(jaccard_matrix(la, lb, run_a.k, run_b.k)).to_frame()
    described_a, described_b = run_a.descriptions, run_b.descriptions
    matching["a_description"] = [described_a.get(int(c), "") for c in matching["a"]]
    matching["b_description"] = [described_b.get(int(c), "") for c in matching["b"]]
    return Comparison(pd.DataFrame(rows), agreement, contingency, sizes, matching=matching)
