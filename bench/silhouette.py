"""Benchmark: songscope's exact silhouette kernel (`songscope.evaluate.silhouette`) against
scikit-learn's ``silhouette_samples`` on the seed's 15,626 songs (k-means, k = 8), in one command.
The kernel stays only while it is faster than the library; its equality with it is tested in
tests/evaluate/test_silhouette.py and checked here again on the real data.

    python bench/silhouette.py [--repeats 3] [--k 8]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best_of(repeats: int, call) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()

    from sklearn.metrics import silhouette_samples as library

    from songscope.clean import read_and_clean
    from songscope.cluster.local import LocalAlgorithm
    from songscope.evaluate.silhouette import silhouette_samples
    from songscope.features import FeatureSpace
    from songscope.seed import seed_paths

    X = FeatureSpace().fit_transform(read_and_clean(seed_paths())[1].tracks)
    labels = LocalAlgorithm("kmeans", n_clusters=args.k).fit(X).labels
    ours = silhouette_samples(X, labels)  # compiles (or loads) the kernel outside the timing
    theirs = library(X, labels)
    ours_s = best_of(args.repeats, lambda: silhouette_samples(X, labels))
    theirs_s = best_of(args.repeats, lambda: library(X, labels))
    result = {
        "benchmark": "silhouette", "songs": len(X), "k": args.k, "songscope_s": round(ours_s, 3), "scikit_learn_s": round(theirs_s, 3),
        "speedup": round(theirs_s / ours_s, 2), "max_abs_difference": float(np.abs(ours - theirs).max()),
    }
    print(f"exact silhouette of {len(X):,} songs, k = {args.k}: songscope {ours_s:.3f} s, scikit-learn {theirs_s:.3f} s "
          f"({result['speedup']}x); largest difference {result['max_abs_difference']:.1e}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
