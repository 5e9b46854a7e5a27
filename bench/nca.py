"""A candidate for the recommendation metric: a linear metric learnt from labels (#28).

scikit-learn's `NeighborhoodComponentsAnalysis` is fitted on a fixed-seed sample of the TRAINING
half's songs (`training_half`) and their first label, and replaces the feature weights: the
songs' standardised features are mapped by its matrix, every weight is 1, and the rest of the
default (artist context, names, fusion, cap, taste model) is unchanged. Both are scored by
genre-precision@10 on queries from the EVALUATION half, as `songscope eval-recs` does, with the
query's artist allowed and left out, and the paired difference with its 95% bootstrap CI.

    python bench/nca.py                 # TidyTuesday and the seed's charts (tune_context.py)
    python bench/nca.py --sample 2000   # a smaller fit (NCA is quadratic in the songs it fits on)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from tune_context import TIDYTUESDAY, charts_catalogue  # noqa: E402

from songscope.clean import read_and_clean  # noqa: E402
from songscope.features import FeatureSpace  # noqa: E402
from songscope.recommend.distance import training_half  # noqa: E402
from songscope.recommend.offline import Asking, bootstrap_ci, genre_precision  # noqa: E402
from songscope.recommend.recommender import Recommender  # noqa: E402


class Mapped(FeatureSpace):
    """A fitted feature space whose output is mapped by a matrix (NCA's components)."""

    def __init__(self, fitted: FeatureSpace, matrix: np.ndarray):
        self.__dict__.update(fitted.__dict__)
        self._matrix = matrix

    def transform(self, frame):
        return super().transform(frame) @ self._matrix.T


def measure(path: Path, label: str, sample: int, queries: int) -> dict[str, str]:
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    tracks = read_and_clean([str(path)])[1].tracks.reset_index(drop=True)
    space = FeatureSpace().fit(tracks)
    X = space.transform(tracks)
    train = np.flatnonzero(training_half(tracks["track_id"].to_numpy()))
    first_labels = tracks[label].astype(str).str.split("|").str[0].to_numpy()
    fitted_on = np.random.default_rng(0).choice(train, min(sample, len(train)), replace=False)
    started = time.perf_counter()
    nca = NeighborhoodComponentsAnalysis(random_state=0, max_iter=60).fit(X[fitted_on], first_labels[fitted_on])
    fit_s = time.perf_counter() - started

    default = Recommender.from_frame(tracks, space)
    unweighted = dataclasses.replace(default.distance, weights={name: 1.0 for name in space.output_names})
    learnt = Recommender.from_frame(tracks, Mapped(space, nca.components_), distance=unweighted)
    methods = {}
    for name, model in (("default", default), ("NCA", learnt)):
        methods[name] = Asking(model)
        methods[f"{name}, other artists"] = Asking(model).discovering()
    found = genre_precision(tracks, methods, label=label, queries=queries)
    out = {"fit": f"{fit_s:.0f} s on {len(fitted_on):,} songs"}
    for name, values in found.items():
        low, high = bootstrap_ci(values)
        out[name] = f"{values.mean():.3f} [{low:.3f}, {high:.3f}]"
    for suffix in ("", ", other artists"):
        gain = found[f"NCA{suffix}"] - found[f"default{suffix}"]
        low, high = bootstrap_ci(gain)
        out[f"NCA - default{suffix}"] = f"{gain.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=5_000, help="training-half songs NCA is fitted on")
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    charts = charts_catalogue(Path(tempfile.mkdtemp()) / "charts.csv")
    for name, path, label in (("TidyTuesday", TIDYTUESDAY, "playlist_genre"), ("charts", charts, "chart")):
        print(f"\n{name}")
        for key, value in measure(path, label, args.sample, args.queries).items():
            print(f"  {key:<34}{value}")


if __name__ == "__main__":
    main()
