"""Benchmark: songscope's inverted-file index (`recommend.index.IVFIndex`, hand-written) against
libraries' indexes, as the design asks of every hand-written kernel: faiss's ``IndexIVFFlat``
(the same method) and, with `--hnsw`, hnswlib's graph index (HNSW).

All index the same vectors: the recommendation space of `--rows` synthetic songs (the seed's
marginals and correlations, `songscope.synth`), names included (the default metric). The IVFs
use the same lists (sqrt(n)) and lists probed (`--probe`, the recommender's own by default).
Measured in one run, per index: build time; the search the recommender makes per request
(`--seeds` favourites at once, each asking its `--pool` nearest: `recommender.POOL`), p50 and
p99 over `--queries` requests on one thread, as a web worker runs it; recall@10 and recall of
the whole pool against exact search (faiss's ``IndexFlatL2``, checked against songscope's
`ExactIndex`); and the bytes per song.

    pip install -e '.[bench]'   (faiss-cpu and hnswlib)
    python bench/index.py [--rows 1000000] [--queries 300] [--probe N] [--hnsw]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _latencies(search, requests: np.ndarray) -> np.ndarray:
    times = []
    for request in requests:
        started = time.perf_counter()
        search(request)
        times.append(1000 * (time.perf_counter() - started))
    return np.asarray(times)


def main() -> None:
    from songscope.recommend.recommender import POOL
    from songscope.recommend.vectors import NAMES_N_PROBE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="requests timed")
    parser.add_argument("--seeds", type=int, default=5, help="favourites per request")
    parser.add_argument("--pool", type=int, default=POOL, help="neighbours each favourite asks for")
    parser.add_argument("--probe", type=int, default=NAMES_N_PROBE)
    parser.add_argument("--hnsw", action="store_true", help="also hnswlib's HNSW (M 16, ef_construction 100; its build takes minutes)")
    parser.add_argument("--ef", type=int, nargs="+", default=[300, 400], help="HNSW search breadths tried")
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
    requests = X[rng.choice(n, args.queries * args.seeds, replace=False)].reshape(args.queries, args.seeds, d)
    points = requests.reshape(-1, d)

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    flat = faiss.IndexFlatL2(d)
    flat.add(X)
    truth = flat.search(points, args.pool)[1]
    check = ExactIndex().fit(X).search(points[:50], args.pool)[0]
    exact_agreement = recall_at_k(check, truth[:50])

    def row(build: float, search, found: np.ndarray, nbytes: float, setting: str) -> dict:
        latency = _latencies(search, requests)
        return {"setting": setting, "build_s": round(build, 2), "p50_ms": round(float(np.percentile(latency, 50)), 3),
                "p99_ms": round(float(np.percentile(latency, 99)), 3), "recall_at_10": round(recall_at_k(found[:, :10], truth[:, :10]), 4),
                "recall_of_pool": round(recall_at_k(found, truth), 4), "bytes_per_song": round(nbytes / n, 1)}

    rows: dict[str, dict] = {}
    started = time.perf_counter()
    ours = IVFIndex(n_lists=lists, n_probe=args.probe).fit(X)
    build = time.perf_counter() - started
    ours.search(points[:5], args.pool)  # compiled kernels loaded
    rows["songscope IVFIndex"] = row(build, lambda q: ours.search(q, args.pool), ours.search(points, args.pool)[0], ours.nbytes, f"probe {args.probe}")

    started = time.perf_counter()
    theirs = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, lists)
    theirs.cp.niter = 10  # as IVFIndex: ten Lloyd iterations on a sample of 40 songs a list
    theirs.train(X[rng.choice(n, min(n, 40 * lists), replace=False)])
    theirs.add(X)
    theirs.nprobe = args.probe
    build = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    rows["faiss IndexIVFFlat"] = row(build, lambda q: theirs.search(q, args.pool), theirs.search(points, args.pool)[1], n * d * 4 + n * 8,
                                     f"probe {args.probe}")

    if args.hnsw:
        import hnswlib

        started = time.perf_counter()
        graph = hnswlib.Index(space="l2", dim=d)
        graph.init_index(max_elements=n, M=16, ef_construction=100, random_seed=0)
        graph.set_num_threads(os.cpu_count() or 1)
        graph.add_items(X)
        build = time.perf_counter() - started
        graph.set_num_threads(1)
        for ef in args.ef:
            graph.set_ef(max(ef, args.pool))
            found = graph.knn_query(points, args.pool)[0].astype(np.int64)
            rows[f"hnswlib HNSW, ef {ef}"] = row(build, lambda q: graph.knn_query(q, args.pool), found, n * (d * 4 + 16 * 2 * 4 + 8),
                                                 f"M 16, ef {ef}")

    print(f"{n:,} songs x {d} (names included), {lists} lists; a request: {args.seeds} favourites x {args.pool} neighbours, one thread:")
    for name, r in rows.items():
        print(f"  {name:24s} {r['setting']:14s} build {r['build_s']:7.2f} s  request p50 {r['p50_ms']:.3f} ms p99 {r['p99_ms']:.3f} ms  "
              f"recall@10 {r['recall_at_10']:.4f}  pool recall {r['recall_of_pool']:.4f}  {r['bytes_per_song']} B/song")
    print(json.dumps({"benchmark": "index", "rows": n, "dimensions": d, "lists": lists, "seeds": args.seeds, "pool": args.pool, "queries": args.queries,
                      "cores": os.cpu_count(), "exact_agreement_with_faiss_flat": round(exact_agreement, 4), "indexes": rows}))


if __name__ == "__main__":
    main()
