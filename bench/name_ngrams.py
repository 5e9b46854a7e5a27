"""Benchmark: the names' character n-grams, songscope's array counting against scikit-learn's.

Names are the shipped catalogues' "artist - title" (TidyTuesday and the seed's charts, lower
case as the recommender keys them), repeated to `--rows`. In one process, best of `--repeats`:

1. the vocabulary of a 50,000-name sample: `ngrams.fit_vocabulary` against
   `CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=50_000).fit`;
2. the counts of `--peer-rows` names over it: `ngrams.count_grams` against the vectorizer's
   `transform` (and that both give the same matrix);
3. `names.name_coordinates` over all `--rows` names: the recommender's whole name context
   (sample, vocabulary, TF-IDF, SVD, projection).

    python bench/name_ngrams.py [--rows 1000000] [--peer-rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def _names(rows: int) -> list[str]:
    from songscope.seed import seed_paths

    tidytuesday = pd.read_csv("data/benchmark/tidytuesday_2020-01-21/spotify_songs.csv", usecols=["track_artist", "track_name"], keep_default_na=False)
    parts = [tidytuesday.track_artist.astype(str) + " - " + tidytuesday.track_name.astype(str)]
    for path in seed_paths():
        seed = pd.read_csv(path, keep_default_na=False)
        parts.append(seed.artist_name.astype(str) + " - " + seed.track_name.astype(str))
    real = pd.concat(parts).str.lower().tolist()
    return (real * (rows // len(real) + 1))[:rows]


def _best(repeats: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--peer-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sklearn.feature_extraction.text import CountVectorizer

    from songscope.recommend.names import NAME_FIT_SAMPLE, name_coordinates
    from songscope.recommend.ngrams import count_grams, fit_vocabulary

    names = _names(max(args.rows, args.peer_rows))
    rng = np.random.default_rng(0)
    sample = [names[i] for i in np.sort(rng.choice(len(names), min(NAME_FIT_SAMPLE, len(names)), replace=False))]
    vectorizer = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=50_000, dtype=np.float32)
    fit_sklearn, _ = _best(args.repeats, lambda: vectorizer.fit(sample))
    fit_ours, vocabulary = _best(args.repeats, lambda: fit_vocabulary(sample, min_df=2, max_features=50_000))

    peers = names[: args.peer_rows]
    count_sklearn, theirs = _best(args.repeats, lambda: vectorizer.transform(peers))
    count_ours, ours = _best(args.repeats, lambda: count_grams(peers, vectorizer.vocabulary_))
    theirs.sort_indices()
    ours.sort_indices()
    equal = ours.shape == theirs.shape and (ours != theirs).nnz == 0

    coordinates_s, _ = _best(args.repeats, lambda: name_coordinates(names[: args.rows]))
    result = {
        "benchmark": "name_ngrams", "rows": args.rows, "peer_rows": args.peer_rows, "vocabulary": len(vocabulary),
        "same_vocabulary": vocabulary == vectorizer.vocabulary_, "same_counts": equal,
        "fit_s": {"songscope": round(fit_ours, 3), "sklearn": round(fit_sklearn, 3), "speedup": round(fit_sklearn / fit_ours, 1)},
        "count_s": {"songscope": round(count_ours, 3), "sklearn": round(count_sklearn, 3), "speedup": round(count_sklearn / count_ours, 1)},
        "name_coordinates_s": round(coordinates_s, 2),
    }
    print(f"vocabulary of {len(sample):,} names: {fit_ours:.2f} s against scikit-learn's {fit_sklearn:.2f} s "
          f"({result['fit_s']['speedup']}x; same: {result['same_vocabulary']})")
    print(f"counts of {len(peers):,} names: {count_ours:.2f} s against {count_sklearn:.2f} s ({result['count_s']['speedup']}x; same: {equal})")
    print(f"name coordinates of {args.rows:,} names: {coordinates_s:.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
