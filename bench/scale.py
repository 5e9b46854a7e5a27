"""Benchmark: `songscope run` end to end on synthetic catalogues, on Spark and on the local engine.

Each case runs `service.run` in its own process (the Python driver) while this process samples,
every 0.2 s, the resident memory of the driver, of Spark's JVM and of Spark's Python workers
(all descendants of the driver). Printed per case: wall time per stage, the driver's peak RSS
(its own VmHWM), the JVM's peak, the workers' peak (summed across them). Synthetic catalogues are
generated once (`songscope synth`, in chunks) and kept in --cache.

    python bench/scale.py                                   # Spark at 1M, 5M, 20M; local at 1M, 5M
    python bench/scale.py --spark 1000000 --local 1000000   # a quick look
    python bench/scale.py --spark 1000000 --local '' --format csv   # one big CSV (read in parts on Spark)
    python bench/scale.py --spark 1000000 --local '' --db postgresql --loaders executors,driver
        # the database loaded by Spark's executors (staging tables) against the driver loading it

With --db postgresql or mysql each case gets a fresh database on the server named by
$SONGSCOPE_TEST_POSTGRES_URL / $SONGSCOPE_TEST_MYSQL_URL (the machine's own by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent


ADMIN_URLS = {
    "postgresql": os.environ.get("SONGSCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("SONGSCOPE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def child(source: str, engine: str, master: str, folder: str, db_url: str, loader: str) -> None:
    from songscope import service
    from songscope.config import Settings
    from songscope.store import staging
    from songscope.store.store import Store

    if loader == "driver":  # the driver loads the database itself, as it does SQLite
        staging.loads_in_parallel = lambda database: False
    settings = Settings(db_url=db_url or f"sqlite:///{folder}/songscope.db", lake_url=f"{folder}/lake", spark_master=master)
    started = time.perf_counter()
    with Store(settings) as store:
        outcome = service.run(store, [source], out_dir=Path(folder) / "reports", k=8, resamples=5, backend=engine)
    seconds = time.perf_counter() - started
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({
        "seconds": round(seconds, 1), "driver_peak_mb": round(hwm / 1024), "songs": outcome.clustering.run.n_tracks,
        "stages_s": {k: round(v, 1) for k, v in outcome.timings.items()},
        "ingest_s": {k: round(v, 1) for k, v in outcome.ingest.timings.items()},
        "sample_n": outcome.clustering.run.metrics.get("sample_n"),
    }))


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`: children of any of its threads (the JVM starts Python workers from its own)."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return children
    return children + [d for c in children for d in _descendants(c)]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _fresh_database(kind: str) -> tuple[str, str]:
    """A new empty database on the `kind` server: (its URL, its name)."""
    import sqlalchemy as sa

    name = f"songscope_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URLS[kind], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if kind == "mysql" else "")))
    admin.dispose()
    return sa.engine.make_url(ADMIN_URLS[kind]).set(database=name).render_as_string(hide_password=False), name


def _drop_database(kind: str, name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(ADMIN_URLS[kind], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")))
    admin.dispose()


def run_case(source: str, engine: str, master: str, db: str = "sqlite", loader: str = "executors") -> dict:
    folder = tempfile.mkdtemp(prefix=f"songscope-scale-{engine}-")
    db_url, name = _fresh_database(db) if db != "sqlite" else ("", "")
    try:
        return _run_case(source, engine, master, folder, db_url, loader)
    finally:
        if name:
            _drop_database(db, name)


def communicate_watching(process: subprocess.Popen) -> tuple[str, dict[str, int]]:
    """`process.communicate()`, sampling meanwhile, every 0.2 s, the resident memory of Spark's
    JVM and of Spark's Python workers below it: (its output, their peaks in MB)."""
    peaks = {"jvm_peak_mb": 0.0, "workers_peak_mb": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            jvm = workers = 0.0
            for pid in _descendants(process.pid):
                name = _name(pid)
                if "java" in name.split(" ", 1)[0]:
                    jvm += _rss_mb(pid)
                elif "pyspark" in name or "python" in name.split(" ", 1)[0]:
                    workers += _rss_mb(pid)
            peaks["jvm_peak_mb"] = max(peaks["jvm_peak_mb"], jvm)
            peaks["workers_peak_mb"] = max(peaks["workers_peak_mb"], workers)
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, _ = process.communicate()
    done.set()
    watcher.join()
    return out, {k: round(v) for k, v in peaks.items()}


def _run_case(source: str, engine: str, master: str, folder: str, db_url: str, loader: str) -> dict:
    process = subprocess.Popen([sys.executable, __file__, "--child", source, engine, master, folder, db_url, loader],
                               stdout=subprocess.PIPE, text=True)
    out, peaks = communicate_watching(process)
    if process.returncode != 0:
        return {"engine": engine, "source": source, "error": f"exit {process.returncode}"}
    result = json.loads(out.strip().splitlines()[-1])
    subprocess.run(["rm", "-rf", folder], check=False)
    return {"engine": engine, **result, **peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spark", default="1000000,5000000,20000000", help="catalogue sizes to run on Spark (comma-separated)")
    parser.add_argument("--local", default="1000000,5000000", help="catalogue sizes to run on the local engine")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="the synthetic catalogue's one file")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "mysql"], default="sqlite", help="the database each case writes")
    parser.add_argument("--loaders", default="executors", help="for Spark cases on a server database: who loads it (executors, driver, or both)")
    parser.add_argument("--cache", default=os.environ.get("SONGSCOPE_BENCH_CACHE", str(Path(tempfile.gettempdir()) / "songscope-bench")))
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    loaders = args.loaders.split(",") if args.db != "sqlite" else ["driver"]
    cases = [("spark", int(n), loader) for n in args.spark.split(",") if n for loader in loaders]
    cases += [("local", int(n), "driver") for n in args.local.split(",") if n]
    results = []
    for engine, rows, loader in cases:
        source = cache / f"synth-{rows}.{args.format}"
        if not source.exists():
            subprocess.run([sys.executable, "-m", "songscope.cli", "synth", "-n", str(rows), "-o", str(source)], check=True,
                           stdout=subprocess.DEVNULL)
        result = run_case(str(source), engine, args.master, args.db, loader) | {"rows": rows, "db": args.db, "loader": loader}
        print(json.dumps(result), flush=True)
        results.append(result)
    print(f"\n{'engine':<7} {'database':<10} {'loaded by':<9} {'songs':>11} {'total s':>8} {'ingest':>7} {'(store)':>8} {'profile':>8} {'cluster':>8} "
          f"{'report':>7} {'driver MB':>10} {'JVM MB':>7} {'workers MB':>11}")
    for r in results:
        if "error" in r:
            print(f"{r['engine']:<7} {r['db']:<10} {r['loader']:<9} {r['rows']:>11,} {r['error']}")
            continue
        s = r["stages_s"]
        print(f"{r['engine']:<7} {r['db']:<10} {r['loader']:<9} {r['rows']:>11,} {r['seconds']:>8.1f} {s.get('ingest', 0):>7.1f} "
              f"{r['ingest_s'].get('store', 0):>8.1f} {s.get('profile', 0):>8.1f} {s.get('cluster', 0):>8.1f} "
              f"{s.get('report', 0):>7.1f} {r['driver_peak_mb']:>10,} {r['jvm_peak_mb']:>7,} {r['workers_peak_mb']:>11,}")
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:8])
    else:
        main()
