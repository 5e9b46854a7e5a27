"""Benchmark: the Spark engine against the local engine by catalogue size, and where Spark pays.

For each size, synthetic songs are written as the lake's catalogue Parquet; then the same
k-means (same k, same iteration cap) runs on the local engine (numpy in this process) and on
Spark (`local[2]` by default), which reads the Parquet itself and applies the shared feature
space as SQL. Prints seconds, rows/s, the Spark JVM's peak memory, and the crossover size.

    python bench/spark.py [--sizes 100000,1000000,10000000] [--k 20] [--iterations 10] [--master local[2]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def jvm_peak_mb() -> float | None:
    """Peak resident memory of the Spark JVM this process started (VmHWM of its java child)."""
    import os

    try:
        children = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())], capture_output=True, text=True).stdout
    except OSError:
        return None
    peaks = []
    for line in children.splitlines():
        pid, _, command = line.strip().partition(" ")
        if "java" in command:
            for entry in Path(f"/proc/{pid}/status").read_text().splitlines():
                if entry.startswith("VmHWM:"):
                    peaks.append(int(entry.split()[1]) / 1024)
    return max(peaks) if peaks else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    import pyarrow as pa

    from songscope.backends.spark.mllib import MLlibAlgorithm
    from songscope.backends.spark.session import spark_session
    from songscope.clean import read_and_clean
    from songscope.cluster.kmeans import kmeans_plus_plus, lloyd
    from songscope.features import FeatureSpace
    from songscope.seed import seed_paths
    from songscope.store.lake import Lake
    from songscope.synth import synthesize

    reference = read_and_clean(seed_paths())[1].tracks
    work = Path(tempfile.mkdtemp(prefix="songscope-spark-bench-"))
    spark_session(args.master, memory=args.driver_memory)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:,} songs ...", file=sys.stderr)
        songs = synthesize(reference, size, seed=0)
        songs["is_outlier"] = False
        lake = Lake(str(work / f"lake-{size}"))
        uri = lake.write_table("songs.parquet", pa.Table.from_pandas(songs, preserve_index=False))
        space = FeatureSpace().fit(songs)

        started = time.perf_counter()
        X = space.transform(songs)
        _, _, local_inertia, local_iters = lloyd(X, kmeans_plus_plus(X, args.k, 0), max_iter=args.iterations, tol=0)
        local_s = time.perf_counter() - started
        del X, songs

        started = time.perf_counter()
        result, _ = MLlibAlgorithm("kmeans", n_clusters=args.k, random_state=0, max_iter=args.iterations, master=args.master, params={"tol": 0.0}).fit_parquet([uri], space)
        spark_s = time.perf_counter() - started
        results.append({
            "rows": size, "local_s": round(local_s, 2), "spark_s": round(spark_s, 2),
            "local_rows_per_s": round(size / local_s), "spark_rows_per_s": round(size / spark_s),
            "spark_fit_s": round(result.timings["fit_s"], 2), "spark_iterations": result.n_iter, "local_iterations": local_iters,
            "spark_jvm_peak_mb": jvm_peak_mb(),
        })
        print(json.dumps(results[-1]), file=sys.stderr)
    crossover = next((r["rows"] for r in results if r["spark_s"] < r["local_s"]), None)
    print(f"\n{'rows':>12}{'local s':>9}{'spark s':>9}{'local rows/s':>14}{'spark rows/s':>14}{'JVM peak MB':>13}")
    for r in results:
        print(f"{r['rows']:>12,}{r['local_s']:>9.2f}{r['spark_s']:>9.2f}{r['local_rows_per_s']:>14,}{r['spark_rows_per_s']:>14,}{(r['spark_jvm_peak_mb'] or 0):>13,.0f}")
    print("crossover: " + (f"Spark is faster from {crossover:,} songs" if crossover else f"none up to {results[-1]['rows']:,} songs on {args.master}"))
    print(json.dumps({"benchmark": "spark", "master": args.master, "k": args.k, "iterations": args.iterations, "results": results, "crossover_rows": crossover}))


if __name__ == "__main__":
    main()
