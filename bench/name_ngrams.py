"""Benchmark: the names' character n-grams, songscope's array counting against scikit-learn's.

Names are the shipped catalogues' "artist - title" (TidyTuesday and the seed's charts, lower
case as the recommender keys them), repeated to `--rows`. In one process, best of `--repeats`:

1. the vocabulary of a 50,000-name sample: `ngrams.fit_vocabulary` against
   `CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=50_000).fit`;
2. the counts of `--peer-rows` names over it: `ngrams.count_grams` against the vectorizer's
   `transform` (and that both give the same matrix);
3. the placement of `--peer-rows` names by a model fitted on the sample: `NameModel.project`
   (the compiled kernel, `recommend._name_placement`) against scikit-learn's fitted steps
   (`CountVectorizer.transform`, `TfidfTransformer.transform`, the SVD's components) and
   against the array path it replaced (`ngrams.count_grams` and the same steps in scipy), with
   the largest difference between them; then `--rows` names placed by the kernel;
4. `names.name_coordinates` over all `--rows` names: the recommender's whole name context
   (sample, vocabulary, TF-IDF, SVD, projection);
5. the fit's weighting and SVD of the sample: `_name_fit` against scikit-learn's
   `TfidfTransformer(sublinear_tf=True)` and `TruncatedSVD(algorithm="arpack")` (and whether both
   give the same components), and what importing each costs a fresh process (seconds, MB resident).

    python bench/name_ngrams.py [--rows 1000000] [--peer-rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa


def _names(rows: int) -> list[str]:
    from songscope.seed import seed_paths

    tidytuesday = pd.read_csv("data/benchmark/tidytuesday_2020-01-21/spotify_songs.csv", usecols=["track_artist", "track_name"], keep_default_na=False)
    parts = [tidytuesday.track_artist.astype(str) + " - " + tidytuesday.track_name.astype(str)]
    for path in seed_paths():
        seed = pd.read_csv(path, keep_default_na=False)
        parts.append(seed.artist_name.astype(str) + " - " + seed.track_name.astype(str))
    real = pd.concat(parts).str.lower().tolist()
    return (real * (rows // len(real) + 1))[:rows]


def _scikit_learns_places(model, texts: list[str]) -> np.ndarray:
    """scikit-learn's fitted steps under `model`'s numbers, rows of unit length."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    counts = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), vocabulary={g: i for i, g in enumerate(model.grams)}).transform(texts)
    weighting = TfidfTransformer(sublinear_tf=True)
    weighting.idf_ = model.idf
    return _unit(weighting.transform(counts.astype(np.float64)) @ model.components.T)


def _array_places(model, texts: list[str]) -> np.ndarray:
    """The array path the kernel replaced: `ngrams` counts, then TF-IDF and the product in scipy."""
    from songscope.recommend.ngrams import GramCounter

    counter = GramCounter({g: i for i, g in enumerate(model.grams)})
    out = []
    for start in range(0, len(texts), 20_000):
        counts = counter.counts(texts[start : start + 20_000]).astype(np.float64)
        np.log(counts.data, out=counts.data)
        counts.data += 1.0
        weighted = counts.multiply(model.idf).tocsr()
        out.append(weighted @ model.components.T)
    return _unit(np.vstack(out))


def _unit(rows: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, length, out=np.zeros_like(rows), where=length > 0)


_IMPORTS = {
    "songscope": "import songscope.recommend._name_fit, scipy.sparse.linalg",
    "sklearn": "import sklearn.decomposition, sklearn.feature_extraction.text",
}


def _import_cost(statement: str) -> dict[str, float]:
    """Seconds and resident MB that `statement` adds to a fresh interpreter that has what an ingest
    has loaded when the names are fitted (numpy, pandas, pyarrow, scipy.sparse)."""
    import subprocess
    import sys

    probe = ("import time, numpy, pandas, pyarrow, scipy.sparse, pathlib\n"
             "def rss(): return next(int(l.split()[1]) for l in pathlib.Path('/proc/self/status').read_text().splitlines() if l.startswith('VmRSS:')) / 1024\n"
             f"before, t = rss(), time.perf_counter()\n{statement}\nprint(time.perf_counter() - t, rss() - before)")
    seconds, megabytes = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    return {"seconds": round(float(seconds), 3), "mb": round(float(megabytes))}


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

    from songscope.recommend.names import NAME_FIT_SAMPLE, NameModel, name_coordinates
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

    model = NameModel.fit(sample)
    place_ours, placed = _best(args.repeats, lambda: model.project(peers))
    place_sklearn, theirs = _best(args.repeats, lambda: _scikit_learns_places(model, peers))
    place_arrays, arrays = _best(args.repeats, lambda: _array_places(model, peers))
    place_all, _ = _best(args.repeats, lambda: model.project(pa.array(names[: args.rows])))
    difference = float(max(np.abs(placed - theirs).max(), np.abs(placed - arrays).max()))

    coordinates_s, _ = _best(args.repeats, lambda: name_coordinates(names[: args.rows]))

    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer

    from songscope.recommend._name_fit import leading_components, sublinear_tfidf
    from songscope.recommend.ngrams import GramCounter

    sample_counts = GramCounter(vocabulary).counts(sample)
    rank = min(model.dimensions, sample_counts.shape[1] - 1, len(sample) - 1)
    weigh_ours, fitted = _best(args.repeats, lambda: leading_components(sublinear_tfidf(sample_counts)[0], rank))
    weigh_sklearn, svd = _best(args.repeats, lambda: TruncatedSVD(rank, algorithm="arpack", random_state=0).fit(
        TfidfTransformer(sublinear_tf=True).fit_transform(sample_counts)))
    imports = {name: _import_cost(statement) for name, statement in _IMPORTS.items()}
    result = {
        "benchmark": "name_ngrams", "rows": args.rows, "peer_rows": args.peer_rows, "vocabulary": len(vocabulary),
        "same_vocabulary": vocabulary == vectorizer.vocabulary_, "same_counts": equal,
        "fit_s": {"songscope": round(fit_ours, 3), "sklearn": round(fit_sklearn, 3), "speedup": round(fit_sklearn / fit_ours, 1)},
        "count_s": {"songscope": round(count_ours, 3), "sklearn": round(count_sklearn, 3), "speedup": round(count_sklearn / count_ours, 1)},
        "place_s": {"songscope": round(place_ours, 3), "sklearn": round(place_sklearn, 3), "array_path": round(place_arrays, 3),
                    "speedup": round(place_sklearn / place_ours, 1), "speedup_over_array_path": round(place_arrays / place_ours, 1),
                    "largest_difference": difference, "all_rows": round(place_all, 3)},
        "name_coordinates_s": round(coordinates_s, 2),
        "weigh_and_reduce_s": {"songscope": round(weigh_ours, 3), "sklearn": round(weigh_sklearn, 3),
                               "same_components": bool(np.array_equal(fitted, svd.components_))},
        "import": imports,
    }
    print(f"vocabulary of {len(sample):,} names: {fit_ours:.2f} s against scikit-learn's {fit_sklearn:.2f} s "
          f"({result['fit_s']['speedup']}x; same: {result['same_vocabulary']})")
    print(f"counts of {len(peers):,} names: {count_ours:.2f} s against {count_sklearn:.2f} s ({result['count_s']['speedup']}x; same: {equal})")
    print(f"placing {len(peers):,} names: {place_ours:.2f} s against scikit-learn's {place_sklearn:.2f} s ({result['place_s']['speedup']}x) "
          f"and the array path's {place_arrays:.2f} s ({result['place_s']['speedup_over_array_path']}x); largest difference {difference:.1e}")
    print(f"placing {args.rows:,} names (Arrow strings): {place_all:.2f} s")
    print(f"name coordinates of {args.rows:,} names: {coordinates_s:.1f} s")
    print(f"weighting and SVD of {len(sample):,} names: {weigh_ours:.2f} s against scikit-learn's {weigh_sklearn:.2f} s "
          f"(same components: {result['weigh_and_reduce_s']['same_components']}); importing them: "
          f"{imports['songscope']['seconds']:.2f} s and {imports['songscope']['mb']} MB against "
          f"{imports['sklearn']['seconds']:.2f} s and {imports['sklearn']['mb']} MB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
