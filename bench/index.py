"""Benchmark: songscope's inverted-file index (`recommend.index.IVFIndex`, hand-written) against a
library's, faiss's ``IndexIVFFlat``, as the design asks of every hand-written kernel.

Both index the same vectors, the recommendation space of `--rows` synthetic songs (the seed's
marginals and correlations, `songscope.synth`), with the same number of lists (sqrt(n)) and of
lists probed per query (`--probe`). Measured in one run: build time, one-query latency (p50,
p99: the recommender asks one song at a time), batch throughput, recall@10 against exact search
(faiss's ``IndexFlatL2``, checked against songscope's `ExactIndex`), and the index's bytes. faiss
runs on one thread for the latency figures, as a web worker would, and on every core for the
batch; songscope's search is one thread either way.

    pip install faiss-cpu==1.15.1   (or: pip install -e '.[bench]')
    python bench/index.py [--rows 1000000] [--queries 1000] [--probe 16]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _latencies(search, queries: np.ndarray) -> np.ndarray:
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        times.append(1000 * (time.perf_counter() - started))
    return np.asarray(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--probe", type=int, default=16)
    args = parser.parse_args()

    import faiss

    from songscope.clean import read_and_clean
    from songscope.features import FeatureSpace
    from songscope.recommend.index import ExactIndex, IVFIndex, recall_at_k
    from songscope.recommend.recommender import Recommender
    from songscope.seed import seed_paths
    from songscope.synth import synthesize

    songs = synthesize(read_and_clean(seed_paths())[1].tracks, args.rows, seed=0)
    X = np.ascontiguousarray(Recommender.from_frame(songs, FeatureSpace().fit(songs), index_kind="exact").X, dtype=np.float32)
    n, d = X.shape
    lists = int(np.clip(np.sqrt(n), 1, 4096))
    rng = np.random.default_rng(1)
    queries = X[rng.choice(n, args.queries, replace=False)]

    flat = faiss.IndexFlatL2(d)
    flat.add(X)
    truth = flat.search(queries, 10)[1]
    check = ExactIndex().fit(X).search(queries[:50], 10)[0]
    exact_agreement = recall_at_k(check, truth[:50])

    started = time.perf_counter()
    ours = IVFIndex(n_lists=lists, n_probe=args.probe).fit(X)
    ours_build = time.perf_counter() - started
    ours.search(queries[:5], 10)  # compiled kernels loaded
    ours_latency = _latencies(lambda q: ours.search(q, 10), queries)
    started = time.perf_counter()
    ours_found = ours.search(queries, 10)[0]
    ours_batch = time.perf_counter() - started

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    quantiser = faiss.IndexFlatL2(d)
    theirs = faiss.IndexIVFFlat(quantiser, d, lists)
    theirs.cp.niter = 10  # as IVFIndex: ten Lloyd iterations on a sample of 40 songs a list
    theirs.train(X[rng.choice(n, min(n, 40 * lists), replace=False)])
    theirs.add(X)
    theirs.nprobe = args.probe
    theirs_build = time.perf_counter() - started
    started = time.perf_counter()
    theirs_found = theirs.search(queries, 10)[1]
    theirs_batch = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    theirs_latency = _latencies(lambda q: theirs.search(q, 10), queries)

    def summary(latency, build, batch, found, nbytes):
        return {"build_s": round(build, 2), "p50_ms": round(float(np.percentile(latency, 50)), 3), "p99_ms": round(float(np.percentile(latency, 99)), 3),
                "batch_queries_per_s": round(len(queries) / batch), "recall_at_10": round(recall_at_k(found, truth), 4), "bytes_per_song": round(nbytes / n, 1)}

    result = {
        "benchmark": "index", "rows": n, "dimensions": d, "lists": lists, "probe": args.probe, "queries": args.queries,
        "cores": os.cpu_count(), "exact_agreement_with_faiss_flat": round(exact_agreement, 4),
        "songscope_ivf": summary(ours_latency, ours_build, ours_batch, ours_found, ours.nbytes),
        "faiss_ivf_flat": summary(theirs_latency, theirs_build, theirs_batch, theirs_found, n * d * 4 + n * 8),
    }
    a, b = result["songscope_ivf"], result["faiss_ivf_flat"]
    result["ratios_songscope_to_faiss"] = {"build": round(a["build_s"] / b["build_s"], 2), "p50": round(a["p50_ms"] / b["p50_ms"], 2),
                                           "p99": round(a["p99_ms"] / b["p99_ms"], 2)}
    print(f"{n:,} songs x {d}, {lists} lists, probe {args.probe}:")
    for name, row in (("songscope IVFIndex", a), ("faiss IndexIVFFlat", b)):
        print(f"  {name:20s} build {row['build_s']:6.2f} s  one query p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms  "
              f"batch {row['batch_queries_per_s']:,}/s  recall@10 {row['recall_at_10']:.4f}  {row['bytes_per_song']} B/song")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
