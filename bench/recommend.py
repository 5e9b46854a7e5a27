"""Benchmark: recommendation over a large catalogue, and a cold CLI recommendation on the seed.

1. 1,000,000 synthetic songs: index build time; per-query latency (5 favourite songs, 10 results,
   the whole recommender: fusion, filters, reasons) p50/p99 over 300 queries; recall@10 of the
   approximate index against exact search, for its neighbours and for the final lists.
2. `songscope recommend` on the seed catalogue, cold (a new process, imports included), with the
   names in the metric (the default: their coordinates placed by the ingest) and without.
3. Memory: the recommender built by the service from a stored catalogue of `--memory-rows`
   songs (file by file from the lake) in a fresh process, against reading that catalogue whole as
   a frame in another fresh process (what every recommender held before the compact form): peak
   RSS above the process's baseline, and the recommender's own bytes per song (`nbytes`); and the
   build time with the names' stored coordinates against without the names.

    python bench/recommend.py [--rows 1000000] [--queries 300] [--probe N] [--memory-rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--probe", type=int, default=None, help="lists each query probes (default: the recommender's own)")
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _measure(*args.child)

    from songscope.clean import read_and_clean
    from songscope.features import FeatureSpace
    from songscope.recommend.index import recall_at_k
    from songscope.recommend.recommender import Recommender, RecommendOptions
    from songscope.seed import seed_paths
    from songscope.synth import synthesize

    reference = read_and_clean(seed_paths())[1].tracks
    songs = synthesize(reference, args.rows, seed=0)
    space = FeatureSpace().fit(songs)

    started = time.perf_counter()
    recommender = Recommender.from_frame(songs, space, index_kind="ivf")
    if args.probe is not None:
        recommender.index.n_probe = args.probe
    build_s = time.perf_counter() - started
    exact = Recommender(recommender.songs, recommender.X, space, index_kind="exact")

    rng = np.random.default_rng(0)
    queries = [list(songs["track_id"].to_numpy()[rng.choice(len(songs), 5, replace=False)]) for _ in range(args.queries)]
    options = RecommendOptions(n=10)
    recommender.recommend(queries[0], options)
    latencies, list_recall = [], []
    for favourites in queries:
        started = time.perf_counter()
        fast = recommender.recommend(favourites, options)
        latencies.append(1000 * (time.perf_counter() - started))
        truth = exact.recommend(favourites, options)
        a, b = {i.track_id for i in fast.items}, {i.track_id for i in truth.items}
        list_recall.append(len(a & b) / max(len(b), 1))
    points = recommender.X[rng.choice(len(songs), 1000, replace=False)]
    neighbour_recall = recall_at_k(recommender.index.search(points, 10)[0], exact.index.search(points, 10)[0])

    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSCOPE_")}
    work = Path(tempfile.mkdtemp(prefix="songscope-rec-bench-"))
    script = str(Path(sys.executable).parent / "songscope")
    subprocess.run([script, "ingest", *seed_paths()], cwd=work, env=env, check=True, capture_output=True)
    # Cold, with the names' coordinates (the default, placed by the ingest) and without, taking turns.
    cold: dict[str, list[float]] = {"names": [], "no names": []}
    for _ in range(3):
        for label, weight in (("names", "2"), ("no names", "0")):
            started = time.perf_counter()
            subprocess.run([script, "recommend", "Bastille - Admit Defeat", "Cigarettes After Sex - Cry", "-n", "10"], cwd=work,
                           env=env | {"SONGSCOPE_NAME_CONTEXT": weight}, check=True, capture_output=True)
            cold[label].append(time.perf_counter() - started)

    result = {
        "benchmark": "recommend", "rows": args.rows, "queries": args.queries, "n_probe": recommender.index.n_probe, "n_lists": recommender.index.n_lists,
        "index_build_s": round(build_s, 2),
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 2), "p99": round(float(np.percentile(latencies, 99)), 2)},
        "recall_at_10_neighbours": round(neighbour_recall, 4),
        "recall_at_10_lists": round(float(np.mean(list_recall)), 4),
        "cli_cold_s": {label: {"best": round(min(times), 2), "median": round(float(np.median(times)), 2)} for label, times in cold.items()},
    }
    print(f"{args.rows:,} songs: build {build_s:.1f} s (recommender, index included); per query p50 {result['latency_ms']['p50']} ms, "
          f"p99 {result['latency_ms']['p99']} ms; recall@10 neighbours {neighbour_recall:.4f}, lists {result['recall_at_10_lists']:.4f}")
    print(f"seed catalogue: `songscope recommend` cold {min(cold['names']):.2f} s with the names, {min(cold['no names']):.2f} s without "
          f"(best of 3 each): {min(cold['names']) - min(cold['no names']):+.2f} s")
    if args.memory_rows:  # 0: skip it
        result["memory"] = _memory(args.memory_rows)
    print(json.dumps(result))


def _hwm_mb(field: str = "VmHWM:") -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024


def _measure(what: str, folder: str) -> None:
    """In a fresh process: build what `what` names over the stores in `folder`; print its figures."""
    from songscope import service
    from songscope.config import DEFAULT_NAME_CONTEXT, Settings
    from songscope.store.store import Store

    settings = Settings(db_url=f"sqlite:///{folder}/s.db", lake_url=f"{folder}/lake", name_context=0.0 if what == "recommender without names" else DEFAULT_NAME_CONTEXT)
    with Store(settings) as store:
        import pandas  # noqa: F401  (imports are the baseline, not the catalogue)
        import sklearn.ensemble  # noqa: F401

        import songscope.recommend.recommender  # noqa: F401

        store.db  # noqa: B018
        baseline, resident = _hwm_mb(), _hwm_mb("VmRSS:")
        started = time.perf_counter()
        if what.startswith("recommender"):
            model, _ = service.recommender(store)
            figures = {"songs": len(model), "bytes_per_song": round(model.nbytes / len(model), 1),
                       "songs_bytes_per_song": round(model.songs.nbytes / len(model), 1), "index_bytes_per_song": round(model.index.nbytes / len(model), 1)}
        else:
            frame = store.catalogue()
            figures = {"songs": len(frame)}
        import gc

        gc.collect()
        figures |= {"seconds": round(time.perf_counter() - started, 1), "peak_above_baseline_mb": round(_hwm_mb() - baseline),
                    "held_mb": round(_hwm_mb("VmRSS:") - resident)}
    print(json.dumps(figures))


def _memory(rows: int) -> dict:
    from songscope import service
    from songscope.config import Settings
    from songscope.store.store import Store

    folder = Path(tempfile.mkdtemp(prefix="songscope-rec-memory-"))
    source = folder / "songs.parquet"
    service.synth(rows, source)
    with Store(Settings(db_url=f"sqlite:///{folder}/s.db", lake_url=f"{folder}/lake")) as store:
        service.ingest(store, [str(source)])
    figures = {}
    for what in ("recommender", "recommender without names", "frame"):
        out = subprocess.run([sys.executable, __file__, "--child", what, str(folder)], check=True, capture_output=True, text=True)
        figures[what] = json.loads(out.stdout.strip().splitlines()[-1])
    r, f, plain = figures["recommender"], figures["frame"], figures["recommender without names"]
    print(f"build from the lake, {r['songs']:,} songs: {r['seconds']} s with the names' stored coordinates, {plain['seconds']} s without "
          f"({r['seconds'] / max(plain['seconds'], 1e-9):.2f}x)")
    print(f"memory, {r['songs']:,} stored songs: the recommender from the lake holds {r['bytes_per_song']} bytes a song "
          f"(songs {r['songs_bytes_per_song']}, vectors and index {r['index_bytes_per_song']}); build {r['seconds']} s, "
          f"peak {r['peak_above_baseline_mb']:,} MB above baseline, {r['held_mb']:,} MB held after; the catalogue read whole as a frame alone: "
          f"peak {f['peak_above_baseline_mb']:,} MB, {f['held_mb']:,} MB held ({f['seconds']} s)")
    return figures


if __name__ == "__main__":
    main()
