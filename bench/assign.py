"""Benchmark: `songscope assign` of songs that arrived after a clustering, on the local engine and
on Spark, each in its own process: wall time and the process's peak resident memory (VmHWM; on
Spark the Python driver's, with Spark's JVM and workers sampled beside it as in bench/scale.py).

A synthetic catalogue of --songs songs is ingested and clustered once (local k-means, k = 8),
then --new songs arrive (`ingest --no-assign`); each case assigns them in a private copy of
those stores (SQLite and a lake folder).

    python bench/assign.py                          # 1,000,000 songs, then 250,000 new
    python bench/assign.py --songs 200000 --new 50000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import communicate_watching  # noqa: E402 - the same process sampling as the scale bench

SONGSCOPE = str(Path(sys.executable).parent / "songscope")


def child(folder: str, engine: str, master: str) -> None:
    from songscope import service
    from songscope.config import Settings
    from songscope.store.store import Store

    settings = Settings(db_url=f"sqlite:///{folder}/songscope.db", lake_url=f"{folder}/lake", spark_master=master)
    started = time.perf_counter()
    with Store(settings) as store:
        outcome = service.assign(store, backend=engine)
    seconds = time.perf_counter() - started
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    drift = outcome.drift
    print(json.dumps({"seconds": round(seconds, 1), "driver_peak_mb": round(hwm / 1024), "assigned": outcome.assigned,
                      "poor_fit_share": drift.poor_fit_share, "median_distance_new": drift.median_distance_new}))


def run_case(stores: Path, engine: str, master: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"songscope-assign-{engine}-"))
    shutil.copytree(stores / "lake", folder / "lake")
    shutil.copy(stores / "songscope.db", folder / "songscope.db")
    process = subprocess.Popen([sys.executable, __file__, "--child", str(folder), engine, master], stdout=subprocess.PIPE, text=True)
    out, peaks = communicate_watching(process)
    shutil.rmtree(folder, ignore_errors=True)
    if process.returncode != 0:
        return {"engine": engine, "error": f"exit {process.returncode}"}
    return {"engine": engine, **json.loads(out.strip().splitlines()[-1]), **peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=1_000_000, help="songs clustered first")
    parser.add_argument("--new", type=int, default=250_000, help="songs that arrive after the clustering")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--engines", default="local,spark")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="songscope-assign-bench-"))
    try:
        common = ["--db", f"sqlite:///{work / 'songscope.db'}", "--lake", str(work / "lake")]
        quiet = {"check": True, "stdout": subprocess.DEVNULL}
        for name, rows, seed in (("first", args.songs, 0), ("later", args.new, 1)):
            subprocess.run([SONGSCOPE, "synth", "-n", str(rows), "--seed", str(seed), "-o", str(work / f"{name}.parquet")], **quiet)
        started = time.perf_counter()
        subprocess.run([SONGSCOPE, "ingest", str(work / "first.parquet"), *common], **quiet)
        subprocess.run([SONGSCOPE, "cluster", "-k", "8", "--resamples", "0", *common], **quiet, stderr=subprocess.DEVNULL)
        subprocess.run([SONGSCOPE, "ingest", str(work / "later.parquet"), "--no-assign", *common], **quiet)
        print(f"set up {args.songs:,} clustered songs and {args.new:,} new in {time.perf_counter() - started:.0f} s", flush=True)
        results = []
        for engine in args.engines.split(","):
            result = run_case(work, engine, args.master)
            print(json.dumps(result), flush=True)
            results.append(result)
        print(f"\n{'engine':<7} {'assigned':>9} {'seconds':>8} {'driver MB':>10} {'JVM MB':>7} {'workers MB':>11} {'poor fit':>9}")
        for r in results:
            if "error" in r:
                print(f"{r['engine']:<7} {r['error']}")
                continue
            print(f"{r['engine']:<7} {r['assigned']:>9,} {r['seconds']:>8.1f} {r['driver_peak_mb']:>10,} {r['jvm_peak_mb']:>7,} "
                  f"{r['workers_peak_mb']:>11,} {r['poor_fit_share']:>9.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        main()
