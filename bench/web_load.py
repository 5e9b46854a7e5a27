"""Benchmark: the web app under load, through real HTTP against `songscope serve`.

Sets up a store with the seed catalogue and one clustering run (SQLite by default, or a fresh
PostgreSQL database), starts `songscope serve` in its own process, then for each case runs N
client threads, each with one keep-alive connection, for a fixed time, and prints requests per
second, p50 and p99 latency, and the count of 5xx answers and failed connections. The clients
share the machine's cores with the server, as the issue's figures did.

    python bench/web_load.py                      # SQLite, 20 s per case, 2 server processes
    python bench/web_load.py --db postgresql --seconds 10 --workers 1

Targets (#14): every GET >= 200 req/s with p99 < 50 ms and POST /api/recommend >= 100 req/s with
p99 < 100 ms at 8 clients; no 5xx at 32 clients; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "data" / "seed"
POSTGRES_ADMIN = os.environ.get("SONGSCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SONGSCOPE = str(Path(sys.executable).parent / "songscope")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _store(kind: str, folder: Path) -> tuple[str, str, str | None]:
    """A database and lake holding the seed and one run: (db URL, lake URL, database to drop)."""
    name = None
    if kind == "postgresql":
        import sqlalchemy as sa

        name = f"songscope_load_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        db_url = sa.engine.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    else:
        db_url = f"sqlite:///{folder / 'songscope.db'}"
    lake = str(folder / "lake")
    common = ["--db", db_url, "--lake", lake]
    subprocess.run([SONGSCOPE, "ingest", *sorted(str(p) for p in SEED.glob("*.csv")), *common], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([SONGSCOPE, "cluster", "-k", "6", *common], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db_url, lake, name


def _drop(name: str | None) -> None:
    if name:
        import sqlalchemy as sa

        admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _wait(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"songscope serve ended: {process.stderr.read() if process.stderr else ''}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("songscope serve did not answer within a minute")


def run_case(port: int, method: str, path: str, body: dict | None, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes, failed = [], {}, 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - started)
                codes[response.status] = codes.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count
            failures[0] += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    ms = np.array(latencies) * 1000
    return {
        "case": f"{method} {path.split('?')[0]}", "clients": clients, "requests": len(latencies),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
        "errors_5xx": sum(c for s, c in statuses.items() if s >= 500), "failed": failures[0], "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="songscope serve --workers (2 on the two cores of this kind of machine)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="songscope-load-"))
    db_url, lake, name = _store(args.db, folder)
    port = _free_port()
    server = subprocess.Popen([SONGSCOPE, "serve", "--port", str(port), "--db", db_url, "--lake", lake, "--workers", str(args.workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(port, server)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/api/runs")
        run_id = json.loads(connection.getresponse().read())[0]["run_id"]
        connection.request("GET", "/api/songs?q=bastille")
        song = json.loads(connection.getresponse().read())[0]["track_id"]
        favourites = {"favourites": ["Bastille - Admit Defeat", "Cigarettes After Sex - Cry"]}
        for method, path, body in (("GET", f"/api/runs/{run_id}/clusters/0", None), ("POST", "/api/recommend", favourites)):
            run_case(port, method, path, body, 4, 3.0)  # warm: the first calls build what each server process keeps
        cases = [
            ("GET", "/api/songs?q=love", None, 8), ("GET", "/api/overview", None, 8), ("GET", f"/api/songs/{song}", None, 8),
            ("GET", f"/api/runs/{run_id}/clusters/0", None, 8), ("POST", "/api/recommend", favourites, 8),
            ("POST", "/api/recommend", favourites, 32), ("GET", "/api/songs?q=love", None, 32),
        ]
        results = []
        for method, path, body, clients in cases:
            result = run_case(port, method, path, body, clients, args.seconds)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        server.terminate()
        server.wait(timeout=30)
        _drop(name)
    print(f"\n{args.db}: {args.seconds:.0f} s per case, {args.workers} server process(es), clients on the server's cores")
    print(f"{'case':<40} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'5xx':>5} {'failed':>6}")
    for r in results:
        print(f"{r['case']:<40} {r['clients']:>7} {r['req_per_s']:>7} {r['p50_ms']:>7} {r['p99_ms']:>7} {r['errors_5xx']:>5} {r['failed']:>6}")


if __name__ == "__main__":
    main()
