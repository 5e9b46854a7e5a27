"""The local backend of each stage: the whole table in this process (Arrow, pandas, numpy)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pyarrow as pa

from songscope.backends.base import CleanedSources, IngestOptions, Progress
from songscope.crashpoints import reach
from songscope.store.catalogue import InMemoryIngest


class LocalIngest:
    """Ingest and clean in memory (`ingest.read_sources`, then `clean.clean`)."""

    name = "local"

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        from songscope.clean import clean
        from songscope.ingest import read_sources

        t0 = time.perf_counter()
        read = read_sources(sources, encoding=options.encoding, delimiter=options.delimiter, s3_endpoint=options.s3_endpoint, progress=progress)
        reach("ingest:read")
        timings = {"read": time.perf_counter() - t0}
        if progress:
            progress(f"cleaning {len(read.frame):,} valid rows")
        t0 = time.perf_counter()
        cleaned = clean(read.frame, outlier_rules=options.outlier_rules, loose=options.loose)
        read.release_rows()
        pa.default_memory_pool().release_unused()
        reach("ingest:cleaned")
        timings["clean"] = time.perf_counter() - t0
        first = None
        if len(read.rejected):
            row = read.rejected.iloc[0]
            first = {"source": row["source"], "line": int(row["line"]), "reason": row["reason"]}
        return CleanedSources(
            data=InMemoryIngest(read, cleaned), report=cleaned.report, rows_read=read.rows_read, rows_valid=read.rows_valid,
            rows_rejected=len(read.rejected), first_rejected=first, timings=timings,
        )
