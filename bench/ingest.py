"""Benchmark: ingest + clean + store, for the seed CSVs and for synthetic catalogues.

Each case runs in its own process (so peak memory is that case's alone) and prints one JSON line;
the parent prints a table and the whole result as JSON. Figures are rows/s and peak RSS; compare
them as ratios between cases of the same run, not with other machines.

    python bench/ingest.py                     # seed, 1,000,000 synthetic rows, and 10,000 more into an
                                               # empty catalogue and into the big one; SQLite and PostgreSQL
    python bench/ingest.py --rows 200000 --no-postgres
    python bench/ingest.py --large 5000000         # adds 5,000,000 rows into SQLite (memory flat in size)
    python bench/ingest.py --repeats 0             # without the case of rows that repeat ids (default 10%)
    python bench/ingest.py --no-labelled           # without the case of TidyTuesday's songs, copied to --rows
    python bench/ingest.py --against v0.36         # every case again with another release's code
                                                   # (a git revision, checked out beside), in turn

With `--against`, each case runs with this checkout's code and with the revision's (its `src/`
first on the child's path), alternating (each case in the other order from the one before), and
the table adds the ratio of rows/s and of peaks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
POSTGRES_ADMIN = os.environ.get("SONGSCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the forking parent across exec, which would charge the parent's data to the child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(sources: list[str], db_url: str, lake_url: str) -> None:
    from songscope import service
    from songscope.config import Settings
    from songscope.store.store import Store

    started = time.perf_counter()
    with Store(Settings(db_url=db_url, lake_url=lake_url)) as store:
        outcome = service.ingest(store, sources)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({
        "rows": outcome.rows_read,
        "clean_rows": outcome.report.rows_out,
        "seconds": round(seconds, 2),
        "rows_per_s": round(outcome.rows_read / seconds),
        "peak_mb": round(peak_mb),
        "stages_s": {k: round(v, 2) for k, v in outcome.timings.items()},
    }))


def run_case(name: str, sources: list[str], db_url: str, lake: Path, code: Path | None = None) -> dict:
    """One case in a fresh process, with this checkout's code or, given `code`, another release's
    source folder first on the path."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, __file__, "--child", db_url, str(lake), *sources],
        capture_output=True, text=True, check=False, env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["case"] = name
    return result


def fresh_postgres() -> tuple[str, callable]:
    import sqlalchemy as sa

    name = f"songscope_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    return sa.engine.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[4:], sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1,000,000)")
    parser.add_argument("--increment", type=int, default=10_000, help="rows of the small ingest, into an empty and into the big catalogue")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL cases")
    parser.add_argument("--large", type=int, default=0, metavar="ROWS",
                        help="also ingest this many synthetic rows into SQLite (e.g. 5000000: the peak must stay flat in the file's size)")
    parser.add_argument("--repeats", type=float, default=0.1, metavar="FRACTION",
                        help="also ingest the synthetic rows with this fraction of them repeating another row's id, with a "
                             "playlist label, into SQLite, as real dumps repeat a song for each playlist (default 0.1; 0: no such case)")
    parser.add_argument("--no-labelled", action="store_true",
                        help="skip the case of TidyTuesday's songs (data/benchmark: seven labels, 14%% of rows repeat an id) "
                             "copied to --rows, each copy's ids and titles its own, into SQLite")
    parser.add_argument("--against", metavar="REV", help="also run every case with this git revision's code (e.g. the previous release)")
    args = parser.parse_args()
    releases: list[tuple[str, Path | None]] = [("this", None)]
    if args.against:
        releases.append((args.against, _checkout(args.against)))
    try:
        # The work folder (the synthetic files and every case's database and lake: about 6 GB
        # with --large 5000000) goes when the run ends, failed or not.
        with tempfile.TemporaryDirectory(prefix="songscope-bench-") as work:
            _run(args, releases, Path(work))
    finally:  # a failed case too leaves no checkout behind
        for _, code in releases[1:]:
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(code.parent)], check=False)


def _run(args: argparse.Namespace, releases: list[tuple[str, Path | None]], work: Path) -> None:
    """Every case, with every release's code in turn, in the folder `work`; prints the table and the JSON line."""
    from songscope.clean import read_and_clean
    from songscope.seed import seed_paths
    from songscope.synth import synthesize

    reference = read_and_clean(seed_paths())[1].tracks
    synthetic, small = work / f"synthetic_{args.rows}.csv", work / f"synthetic_{args.increment}.csv"
    t0 = time.perf_counter()
    synthesize(reference, args.rows, seed=0).to_csv(synthetic, index=False)
    synthesize(reference, args.increment, seed=1).to_csv(small, index=False)
    print(f"generated {args.rows:,} synthetic rows in {time.perf_counter() - t0:.1f} s ({synthetic.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)

    kinds = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    results = []
    for kind in kinds:
        stores: list[tuple[str, Path]] = []
        drops = []

        def fresh(kind: str = kind, drops: list = drops) -> tuple[str, Path]:
            lake = work / f"lake-{uuid.uuid4().hex[:6]}"
            if kind == "sqlite":
                return f"sqlite:///{work / (uuid.uuid4().hex[:6] + '.db')}", lake
            url, drop = fresh_postgres()
            drops.append(drop)
            return url, lake

        try:
            cases = [
                ("seed", seed_paths()),
                (f"{args.rows:,} synthetic", [str(synthetic)]),
                (f"+{args.increment:,} into an empty catalogue", [str(small)]),
            ]
            for label, sources in cases:
                for release, code in in_turn(releases):  # taking turns, so a slow spell of the machine hits both
                    url, lake = fresh()
                    print(f"running {label} -> {kind} ({release}) ...", file=sys.stderr)
                    results.append(run_case(f"{label} -> {kind}", sources, url, lake, code) | {"release": release})
                    if label == cases[1][0]:
                        stores.append((release, code, url, lake))
            # The same small ingest into the big catalogue: its cost must not grow with the catalogue.
            for release, code, url, lake in in_turn(stores):
                print(f"running +{args.increment:,} into the {args.rows:,} catalogue -> {kind} ({release}) ...", file=sys.stderr)
                results.append(run_case(f"+{args.increment:,} into {args.rows:,} -> {kind}", [str(small)], url, lake, code) | {"release": release})
        finally:
            for drop in drops:
                drop()
    if args.repeats:
        repeating = work / f"synthetic_{args.rows}_repeats.csv"
        with_repeats(synthesize(reference, args.rows, seed=0), args.repeats, seed=3).to_csv(repeating, index=False)
        label = f"{args.rows:,} with {args.repeats:.0%} repeated ids -> sqlite"
        for release, code in in_turn(releases):
            print(f"running {label} ({release}) ...", file=sys.stderr)
            url = f"sqlite:///{work / (uuid.uuid4().hex[:6] + '.db')}"
            results.append(run_case(label, [str(repeating)], url, work / f"lake-{uuid.uuid4().hex[:6]}", code) | {"release": release})
    if not args.no_labelled:
        shaped = work / f"tidytuesday_{args.rows}.csv"
        tidytuesday_copies(args.rows).to_csv(shaped, index=False)
        label = f"{args.rows:,} TidyTuesday-shaped -> sqlite"
        for release, code in in_turn(releases):
            print(f"running {label} ({release}) ...", file=sys.stderr)
            url = f"sqlite:///{work / (uuid.uuid4().hex[:6] + '.db')}"
            results.append(run_case(label, [str(shaped)], url, work / f"lake-{uuid.uuid4().hex[:6]}", code) | {"release": release})
    if args.large:
        large = work / f"synthetic_{args.large}.csv"
        synthesize(reference, args.large, seed=2).to_csv(large, index=False)
        for release, code in in_turn(releases):
            print(f"running {args.large:,} synthetic -> sqlite ({release}) ...", file=sys.stderr)
            url = f"sqlite:///{work / (uuid.uuid4().hex[:6] + '.db')}"
            results.append(run_case(f"{args.large:,} synthetic -> sqlite", [str(large)], url, work / f"lake-{uuid.uuid4().hex[:6]}", code)
                           | {"release": release})

    print(f"\n{'case':<44}{'code':>9}{'rows':>11}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}  stages (s)")
    for r in results:
        stages = ", ".join(f"{k} {v}" for k, v in r["stages_s"].items())
        print(f"{r['case']:<44}{r['release']:>9}{r['rows']:>11,}{r['seconds']:>9.2f}{r['rows_per_s']:>10,}{r['peak_mb']:>9,}  {stages}")
    if args.against:
        print(f"\nthis checkout against {args.against}, case by case:")
        for case in dict.fromkeys(r["case"] for r in results):
            mine, theirs = (next(r for r in results if r["case"] == case and r["release"] == release) for release, _ in releases)
            print(f"  {case:<44} rows/s {mine['rows_per_s'] / theirs['rows_per_s']:.2f}x, peak {mine['peak_mb'] / theirs['peak_mb']:.2f}x")
    print(json.dumps({"benchmark": "ingest", "against": args.against, "results": results}))


#: Cases run so far: each case takes the releases in the other order from the one before, from a
#: side drawn at random, so that no case runs the same release first in every run of the bench.
_TURNS = itertools.count(random.randrange(2))


def in_turn(releases: list) -> list:
    """The releases in the order the next case runs them: this checkout first in one case, last
    in the next. Run back to back, the first of two measured 0.5-1.5 s slower on the 1M case
    whichever code it ran (a probe, 2026-12-07): always first, this checkout's figures carried that.
    Starting from the same side every run, a case did too: the 10,000 songs into the 1M
    PostgreSQL catalogue, 0.86x and 0.89x in two runs with this checkout first, 1.0-1.1x in pairs
    run in both orders (2026-12-08)."""
    return releases if next(_TURNS) % 2 == 0 else releases[::-1]


def with_repeats(frame, fraction: float, seed: int):
    """`frame` (synthetic songs) as real dumps hold songs: `fraction` of its rows replaced by copies
    of other rows (the same id), half of them with another popularity, and every row in a playlist
    genre, which the copies merge (TidyTuesday's songs: 14% of rows repeat an id)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frame = frame.assign(playlist_genre=rng.choice(["pop", "rock", "rap", "latin", "edm", "r&b"], len(frame)))
    count = int(len(frame) * fraction)
    picked = rng.permutation(len(frame))[: 2 * count]
    originals, replaced = picked[:count], picked[count:]
    copies = frame.iloc[originals].copy()
    changed = rng.random(count) < 0.5
    copies.loc[changed, "popularity"] = rng.integers(0, 100, int(changed.sum()))
    copies["playlist_genre"] = rng.choice(["pop", "rock", "rap"], count)
    frame.iloc[replaced] = copies.to_numpy()
    return frame


def tidytuesday_copies(rows: int):
    """TidyTuesday's songs (a real dump's layout: seven labels, a song repeated for each playlist
    it is in) copied until there are `rows`, each copy's ids and titles its own (the copy's
    number appended), so that copies are new songs and each copy's repeats are as the file's."""
    import pandas as pd

    songs = pd.read_csv(HERE.parent / "data" / "benchmark" / "tidytuesday_2020-01-21" / "spotify_songs.csv")
    copies = []
    for number in range(-(-rows // len(songs))):
        copies.append(songs.assign(track_id=songs["track_id"].astype(str) + f"{number:03d}",
                                   track_name=songs["track_name"].astype(str) + f" ({number})"))
    return pd.concat(copies, ignore_index=True).iloc[:rows]


def _checkout(revision: str) -> Path:
    """`revision`'s source folder, checked out (detached) beside this one, for the children's path."""
    repository = HERE.parent
    folder = Path(tempfile.mkdtemp(prefix="songscope-release-"))
    subprocess.run(["git", "-C", str(repository), "worktree", "add", "--detach", "--quiet", str(folder), revision], check=True)
    return folder / "src"


if __name__ == "__main__":
    main()
