"""Choosing the weights of album and name context, on training halves only.

For each weight on a grid, songscope's genre-precision@10 (and with the query's artist left out)
on queries from the TRAINING half of each labelled catalogue (`training_half`), so the evaluation
half that `songscope eval-recs` reports on is never seen while choosing. Two catalogues, both
built from data shipped in the repository:

- TidyTuesday 2020-01-21 (playlist genres; albums by id);
- "charts": the three seed CSVs with the chart each song came from as its label (Brazil's,
  the world's, the US tutorial's). Brazil's chart is mostly Portuguese, the world's mixes
  Spanish, Korean and English: a label defined by language and region, as many genres of large
  catalogues are. A song on several charts carries each ("brazil|world").

    python bench/tune_context.py                 # both catalogues, 1,000 training queries each
    python bench/tune_context.py --write-charts data.csv   # also write the charts catalogue
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from songscope.clean import read_and_clean  # noqa: E402
from songscope.features import FeatureSpace  # noqa: E402
from songscope.recommend.distance import SongDistance  # noqa: E402
from songscope.recommend.offline import Methods, genre_precision  # noqa: E402
from songscope.recommend.recommender import Recommender, RecommendOptions  # noqa: E402

TIDYTUESDAY = HERE.parent / "data" / "benchmark" / "tidytuesday_2020-01-21" / "spotify_songs.csv"
SEED = HERE.parent / "data" / "seed"


def charts_catalogue(path: Path) -> Path:
    """The seed CSVs with a `chart` label column (the file each song came from)."""
    frames = [pd.read_csv(f, index_col=0).assign(chart=f.stem.replace("_data", "")) for f in sorted(SEED.glob("*.csv"))]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def evaluate(tracks: pd.DataFrame, label: str, distance: SongDistance, space: FeatureSpace, queries: int) -> dict[str, float]:
    model = Recommender.from_frame(tracks, space, distance=distance)
    methods = Methods.__new__(Methods)  # only what `discovering` needs
    methods.tracks, methods.recommender = tracks, model

    def plain(seeds, n):
        result = model.recommend(model.songs.ids(seeds), RecommendOptions(n=n))
        return model.songs.rows_of_ids([i.track_id for i in result.items]).tolist()

    def other_artists(seeds, n):
        result = model.recommend(model.songs.ids(seeds), RecommendOptions(n=n, exclude_seed_artists=True))
        return model.songs.rows_of_ids([i.track_id for i in result.items]).tolist()

    found = genre_precision(tracks, {"all": plain, "other artists": other_artists}, label=label, queries=queries, half="training")
    return {name: round(float(values.mean()), 4) for name, values in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--write-charts", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="songscope-tune-"))
    charts = charts_catalogue(args.write_charts or folder / "charts.csv")
    catalogues = {"tidytuesday": (TIDYTUESDAY, "playlist_genre"), "charts": (charts, "chart")}
    rows = []
    for name, (path, label) in catalogues.items():
        tracks = read_and_clean([str(path)])[1].tracks.reset_index(drop=True)
        space = FeatureSpace().fit(tracks)
        grid = [(album, names) for album in (0.0, 0.5, 1.0) for names in (0.0, 0.5, 1.0, 2.0, 4.0)]
        for album, names in grid:
            started = time.perf_counter()
            found = evaluate(tracks, label, dataclasses.replace(SongDistance(), album_context=album, name_context=names), space, args.queries)
            row = {"catalogue": name, "album_context": album, "name_context": names, **found, "seconds": round(time.perf_counter() - started, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
