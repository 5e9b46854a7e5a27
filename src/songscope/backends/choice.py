"""Which backend runs a job (local or Spark), chosen once from ``--engine`` and the catalogue's size."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from songscope.config import Settings
from songscope.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend

#: `--engine auto` picks Spark from this many songs up. Measured by bench/spark.py on 2 cores
#: (local[2], k = 20, 10 iterations): local 0.40 s vs Spark 17.6 s at 1M songs, 4.3 s vs 89.5 s
#: at 10M, so no crossover below 10M here; 20M is where the local backend's memory (about 1 GiB per
#: 10M songs in float32, twice that while transforming) starts to matter. On a real cluster,
#: lower it with SONGSCOPE_SPARK_MIN_ROWS.
SPARK_MIN_ROWS = int(os.environ.get("SONGSCOPE_SPARK_MIN_ROWS", "20000000"))


def choose_kind(requested: str, n_tracks: int) -> tuple[str, str]:
    """The kind of backend to use and why (for `auto`: by catalogue size).

    >>> choose_kind("auto", 1_000)[0]
    'local'
    >>> choose_kind("sparkk", 1_000)
    Traceback (most recent call last):
    ...
    songscope.errors.UserError: unknown backend 'sparkk' (--engine): choose local, spark or auto
    """
    if requested not in ("local", "spark", "auto"):
        raise UserError(f"unknown backend {requested!r} (--engine): choose local, spark or auto")
    if requested != "auto":
        return requested, f"{requested} backend, as asked"
    if n_tracks >= SPARK_MIN_ROWS:
        return "spark", f"spark: {n_tracks:,} songs is at or above the {SPARK_MIN_ROWS:,}-song crossover"
    return "local", f"local: {n_tracks:,} songs is below the {SPARK_MIN_ROWS:,}-song crossover where Spark starts to pay (bench/spark.py)"


#: Bytes per song in a CSV of audio features (the seed's files: 145-148), to estimate a size unread.
CSV_BYTES_PER_ROW = 145


def estimate_rows(sources: list[str], s3_endpoint: str | None = None) -> int:
    """Songs the sources hold, estimated without reading them: Parquet footers' row counts, and
    CSV sizes over `CSV_BYTES_PER_ROW`. Names that match nothing count as 0 (reading says why)."""
    from songscope.ingest import CSV_SUFFIXES, PARQUET_SUFFIXES, parquet_row_groups
    from songscope.store import lake as lake_io

    rows = 0
    for pattern in sources:
        for url in lake_io.expand(pattern, s3_endpoint, CSV_SUFFIXES + PARQUET_SUFFIXES):
            if url.lower().endswith(PARQUET_SUFFIXES):
                rows += sum(parquet_row_groups(url, s3_endpoint))
            else:
                fs, path = lake_io.resolve(url, s3_endpoint)
                rows += fs.get_file_info(path).size // CSV_BYTES_PER_ROW
    return rows


#: Peak memory of the local backend per song, measured end to end (`songscope run`, bench/run.py
#: and bench/ingest.py: 1.29-1.36 GB at 1M songs, 3.5 GB at 2M), with room for the report.
LOCAL_BYTES_PER_SONG = 1_800


#: The local ingest's peak, which streams its rows in batches and holds the keys of the rows that
#: share one (`backends.batches`, `backends.part_keys`): distinct rows measured 0.9-1.2 GB from 1M
#: to 10M; the per-row term is for an input whose every row shares a key (a dump that lists each
#: song twice), whose keys are all held while deciding (about 220 bytes a row when every row's
#: keys were held: 2,230-2,370 MB at 10M); with room.
INGEST_BASE_BYTES = 1 << 30
INGEST_BYTES_PER_ROW = 400


class TooBigForLocal(UserError):
    """The local backend would not fit the catalogue in this machine's memory."""


def available_memory() -> int:
    """Bytes this process can still take: the kernel's MemAvailable, within a cgroup limit if one is set."""
    available = None
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = open("/sys/fs/cgroup/memory.max", encoding="ascii").read().strip()
        if limit != "max":
            used = int(open("/sys/fs/cgroup/memory.current", encoding="ascii").read())
            available = min(available or 2**62, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available if available is not None else 2**62


def check_fits_locally(songs: int, need: int | None = None) -> None:
    """Refuse, before anything is read, a catalogue the local backend would not fit in memory:
    `need` bytes (by default, `LOCAL_BYTES_PER_SONG` a song)."""
    need = songs * LOCAL_BYTES_PER_SONG if need is None else need
    have = available_memory()
    if need > have:
        raise TooBigForLocal(
            f"about {songs:,} songs need an estimated {need / 2**30:.1f} GiB on the local backend, and this machine has "
            f"{have / 2**30:.1f} GiB available: run with --engine spark (or --engine auto), which never holds the catalogue in one process"
        )


def choose_backend(requested: str, songs: int, settings: Settings, *, must_hold: int | None = None, need: int | None = None) -> Backend:
    """The backend of a job: `requested` (local, spark, or auto by `songs`, the catalogue's size or
    an estimate of it). A local backend is refused, before anything is read, when `must_hold`
    songs (default: `songs`) would not fit in this machine's memory (`check_fits_locally`; `need`:
    the bytes they take, where a stage knows its own figure).

    >>> from typing import TYPE_CHECKING

from songscope.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend
    >>> choose_backend("auto", 1_000, Settings()).name
    'local'
    """
    kind, reason = choose_kind(requested, songs)
    if kind == "spark":
        from songscope.backends.spark.backend import SparkBackend

        return SparkBackend(settings, reason)
    check_fits_locally(songs if must_hold is None else must_hold, need)
    from songscope.backends.local import LocalBackend

    return LocalBackend(reason)
