"""Benchmark: songscope's k-means kernel against scikit-learn's KMeans, in one run.

1,000,000 synthetic songs in the 13-dimensional space (10 features + key on the circle + mode),
k = 50, the same k-means++ seeds, the same number of Lloyd iterations (tol = 0), so the two do
the same work; the inertia must agree within 0.5%. Also prints ms per iteration against the
compute bound (n * k * d * 2 flops per iteration at this machine's measured float32 GEMM rate).

    python bench/kmeans.py [--rows 1000000] [--k 50] [--iterations 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def gemm_gflops(size: int = 2048, repeats: int = 3) -> float:
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each; the best of each is kept")
    args = parser.parse_args()

    from sklearn.cluster import KMeans

    from songscope.clean import read_and_clean
    from songscope.cluster.kmeans import kmeans_plus_plus, lloyd
    from songscope.features import FeatureSpace
    from songscope.seed import seed_paths
    from songscope.synth import synthesize

    songs = synthesize(read_and_clean(seed_paths())[1].tracks, args.rows, seed=0)
    X = FeatureSpace(key="circle", mode=True).fit_transform(songs)
    n, d = X.shape
    init = kmeans_plus_plus(X, args.k, 0)
    lloyd(X[:5_000], init, max_iter=2)  # load the compiled kernel outside the timing
    print(f"{n:,} songs x {d} features, k = {args.k}, {args.iterations} iterations, same seeds", file=sys.stderr)

    ours, theirs = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        reference = KMeans(args.k, init=init, n_init=1, max_iter=args.iterations, tol=0, algorithm="lloyd").fit(X)
        theirs.append((time.perf_counter() - started, reference.n_iter_, reference.inertia_))
        started = time.perf_counter()
        _, _, inertia, n_iter = lloyd(X, init, max_iter=args.iterations, tol=0)
        ours.append((time.perf_counter() - started, n_iter, inertia))
    best_ours, best_theirs = min(ours), min(theirs)
    flops = n * args.k * d * 2
    rate = gemm_gflops()
    result = {
        "benchmark": "kmeans",
        "rows": n, "dims": d, "k": args.k,
        "sklearn": {"seconds": round(best_theirs[0], 3), "iterations": int(best_theirs[1]), "inertia": best_theirs[2],
                    "ms_per_iter": round(1000 * best_theirs[0] / best_theirs[1], 1)},
        "songscope": {"seconds": round(best_ours[0], 3), "iterations": int(best_ours[1]), "inertia": best_ours[2],
                      "ms_per_iter": round(1000 * best_ours[0] / best_ours[1], 1)},
        "speedup": round(best_theirs[0] / best_ours[0], 2),
        "inertia_rel_diff": best_ours[2] / best_theirs[2] - 1,
        "gemm_gflops_float32": round(rate, 1),
        "compute_bound_ms_per_iter": round(1000 * flops / (rate * 1e9), 1),
    }
    print(f"\n{'':<12}{'seconds':>9}{'iters':>7}{'ms/iter':>9}{'inertia':>16}")
    for name in ("sklearn", "songscope"):
        r = result[name]
        print(f"{name:<12}{r['seconds']:>9.3f}{r['iterations']:>7}{r['ms_per_iter']:>9.1f}{r['inertia']:>16,.0f}")
    print(f"speed-up {result['speedup']}x, inertia difference {result['inertia_rel_diff']:+.2e}; "
          f"compute bound {result['compute_bound_ms_per_iter']} ms/iter at {result['gemm_gflops_float32']} GFLOP/s (float32 GEMM)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
