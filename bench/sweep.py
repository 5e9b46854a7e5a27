"""Benchmark: the full model-selection sweep (k = 2..60, gap statistic with B = 10) on the seed's
15,626 songs, against the 60 s target; prints each stage's time and the recommendation.

    python bench/sweep.py [--k 2..60] [--references 10]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", default="2..60")
    parser.add_argument("--references", type=int, default=10)
    args = parser.parse_args()

    from songscope.clean import read_and_clean
    from songscope.evaluate.select import k_sweep
    from songscope.features import FeatureSpace
    from songscope.seed import seed_paths

    low, high = (int(p) for p in args.k.split(".."))
    tracks = read_and_clean(seed_paths())[1].tracks
    X = FeatureSpace().fit_transform(tracks)
    started = time.perf_counter()
    sweep = k_sweep(X, range(low, high + 1), references=args.references)
    seconds = time.perf_counter() - started
    print(f"k = {low}..{high} on {len(X):,} songs with B = {args.references}: {seconds:.1f} s (target < 60 s)")
    print(f"knee {sweep.knee_k}, silhouette {sweep.silhouette_k}, gap 1-SE {sweep.gap_k}, recommended {sweep.recommended_k}")
    print(json.dumps({"benchmark": "sweep", "rows": len(X), "k": [low, high], "references": args.references, "seconds": round(seconds, 1),
                      "knee_k": sweep.knee_k, "silhouette_k": sweep.silhouette_k, "gap_k": sweep.gap_k, "recommended_k": sweep.recommended_k}))


if __name__ == "__main__":
    main()
