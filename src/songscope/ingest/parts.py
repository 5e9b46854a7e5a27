"""Reading sources in parts on every core: a big CSV cut between records, a Parquet file by row
groups, each part read and validated on its own thread (`read_in_parts`).

Parts give the rows, rejected rows and notes that reading each file whole gives (the same readers:
`read_csv_part`, `read_parquet_part`, `read_one`), in the same order, so the local backend can
hold one part at a time instead of a whole file, and use both cores while it reads.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from songscope import schema
from songscope.ingest import sources
from songscope.ingest.csv_ranges import csv_parts
from songscope.ingest.sources import SourceSummary
from songscope.ingest.validate import merge_notes

#: A CSV larger than this is read in parts of about this size, cut between records: about
#: 450,000 rows of a typical audio-feature table, about 200 MB while it is parsed and validated.
CSV_PART_BYTES = 64 << 20
#: Rows a Parquet part holds at most (whole row groups; a larger group is a part of its own).
PARQUET_PART_ROWS = 500_000


@dataclass(frozen=True)
class Part:
    """One part of one source: a whole file (``kind="file"``), the CSV records in bytes
    ``[start, stop)`` after ``breaks_before`` line breaks, or the Parquet row groups ``start..stop-1``.
    A part with `digest` (one of each file) also hashes the whole file: its summary carries the
    file's content hash and size."""

    url: str
    file_index: int
    kind: str = "file"
    start: int = 0
    stop: int = 0
    breaks_before: int = 0
    digest: bool = True


def plan_parts(urls: list[str], *, encoding: str, s3_endpoint: str | None, pool: ThreadPoolExecutor, workers: int = 1,
               csv_part_bytes: int | None = None, parquet_part_rows: int | None = None) -> list[Part]:
    """The parts the files are read in, in order. A CSV bigger than `csv_part_bytes` is cut into
    ranges of equal size, no bigger than that, as many as a multiple of the `workers` that read
    them (64 MiB parts of a 218 MB file were three of 67 MB and one of 17: one core idle for the
    last second), each scanned for line breaks outside quotes on `pool` (one counting pass, no
    parsing). A file's last part hashes it: the parts are read `workers` at a time, in order, and
    a first part made longer would hold back the next. A file that cannot be planned is one
    part, whose reading then says what is wrong with it."""
    csv_part_bytes = csv_part_bytes or CSV_PART_BYTES
    parquet_part_rows = parquet_part_rows or PARQUET_PART_ROWS
    parts: list[Part] = []
    for index, url in enumerate(urls):
        try:
            if url.lower().endswith(sources.PARQUET_SUFFIXES):
                groups = sources.parquet_row_groups(url, s3_endpoint)
                parts += _parquet_parts(url, index, groups, parquet_part_rows)
                continue
            size = sources.file_size(url, s3_endpoint) if sources.csv_splittable(url, encoding, s3_endpoint) else 0
        except Exception:  # noqa: BLE001 - read whole, the file's own reading names the fault
            parts.append(Part(url, index))
            continue
        if size <= csv_part_bytes:
            parts.append(Part(url, index))
            continue
        count = -(-size // (csv_part_bytes * workers)) * workers
        bounds = [size * number // count for number in range(count + 1)]
        scans = list(pool.map(lambda r, url=url: sources.scan_csv_range(url, r[0], r[1], s3_endpoint), zip(bounds, bounds[1:])))
        cuts = csv_parts(scans)
        parts += [Part(url, index, "csv", a, b, before, digest=number == len(cuts) - 1) for number, (a, b, before) in enumerate(cuts)]
    return parts


def _parquet_parts(url: str, index: int, groups: list[int], part_rows: int) -> list[Part]:
    if len(groups) <= 1 or sum(groups) <= part_rows:
        return [Part(url, index)]
    parts, first, rows = [], 0, 0
    for number, size in enumerate(groups):
        rows += size
        if rows >= part_rows or number == len(groups) - 1:
            parts.append(Part(url, index, "parquet", first, number + 1, digest=number == len(groups) - 1))
            first, rows = number + 1, 0
    return parts


def read_part(part: Part, *, encoding: str, delimiter: str, s3_endpoint: str | None,
              required: tuple[str, ...] = schema.REQUIRED_COLUMNS) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
    """The validated rows, rejected rows and summary of one part (a `digest` part's summary has
    the file's hash and size)."""
    if part.kind == "file":
        return sources.read_one(part.url, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint, required=required)
    if part.kind == "csv":
        read = sources.read_csv_part(part.url, part.start, part.stop, part.breaks_before, encoding=encoding, delimiter=delimiter,
                             s3_endpoint=s3_endpoint, required=required)
    else:
        read = sources.read_parquet_part(part.url, part.start, part.stop, s3_endpoint=s3_endpoint, required=required)
    if part.digest:
        read[2].sha256, read[2].size_bytes = sources.file_digest(part.url, s3_endpoint)
    return read


def add_part_summary(whole: SourceSummary, part: SourceSummary) -> None:
    """Count a later part of a file into its summary (rows add up, notes merge)."""
    for name in ("rows_read", "rows_valid", "rows_rejected"):
        setattr(whole, name, getattr(whole, name) + getattr(part, name))
    merge_notes(whole.notes, part.notes)
    if part.sha256:
        whole.sha256, whole.size_bytes = part.sha256, part.size_bytes


def read_in_parts(parts: list[Part], work: Callable[[Part], object], *, pool: ThreadPoolExecutor,
                  ahead: int | None = None) -> Iterator[tuple[Part, object]]:
    """``(part, work(part))`` for every part, in order, with at most `ahead` parts (one per core
    by default) read at once: memory bounded by a few parts, whatever the sources' size."""
    ahead = ahead or os.cpu_count() or 1
    pending: deque[tuple[Part, Future]] = deque()
    queue = iter(parts)
    for part in queue:
        pending.append((part, pool.submit(work, part)))
        if len(pending) >= ahead:
            break
    try:
        while pending:
            part, future = pending.popleft()
            result = future.result()
            following = next(queue, None)
            if following is not None:
                pending.append((following, pool.submit(work, following)))
            yield part, result
    finally:
        for _, future in pending:
            future.cancel()
