"""One ingest's clean data as a backend hands it to the stores (`CleanIngest`), and the two kinds
this process holds: `InMemoryIngest` (read and cleaned whole) and what `ReadHere` reports of the
sources it read. `store.catalogue.write_ingest` writes any of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from songscope.store import staging


class CleanIngest(Protocol):
    """One ingest's clean data as a backend hands it to the stores, in chunks of bounded size.

    The local backend has it all in memory and yields one chunk of each; the Spark backend
    streams it from files its executors wrote, so the driver holds one chunk at a time.
    """

    #: `ingest.SourceSummary` of every file read.
    sources: list
    rows_read: int

    def read_summary(self) -> dict[str, Any]: ...

    def clean_report(self) -> dict[str, Any]: ...

    def track_chunks(self) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]: ...

    #: How many chunks `track_chunks` yields, where that is known before they are read; None
    #: otherwise. The stores start their `alongside` work as the last chunk's files are written.
    track_chunk_count: int | None

    def provenance_chunks(self) -> Iterator[pd.DataFrame]: ...

    def rejected_chunks(self) -> Iterator[pd.DataFrame]: ...

    def duplicate_chunks(self) -> Iterator[pd.DataFrame]: ...

    def without_rows(self) -> CleanIngest:
        """What is left to report once the stores hold this ingest: its sources, read summary,
        cleaning report and rejected rows, without the tracks, provenance and duplicates that
        this process may hold (at a million rows, most of the ingest's memory)."""
        ...

    #: Whether the data is in files that workers can load themselves (`load_in_parallel`), not
    #: in this process only.
    in_workers: bool

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        """Have workers load the tracks, provenance and rejected rows into `job`'s staging tables
        and its lake (see `store.staging`); only asked where `in_workers`."""
        ...


class ReadHere:
    """What a `CleanIngest` whose sources this process read reports of them: its `read`, an
    `ingest.IngestResult` (the sources' summaries and rejected rows)."""

    read: Any

    @property
    def sources(self) -> list:
        return self.read.sources

    @property
    def rows_read(self) -> int:
        return self.read.rows_read

    def read_summary(self) -> dict[str, Any]:
        return self.read.summary()

    def rejected_chunks(self):
        yield self.read.rejected


@dataclass
class InMemoryIngest(ReadHere):
    """A `CleanIngest` held in memory: an `ingest.IngestResult` and its `clean.CleanResult`."""

    read: Any
    cleaned: Any

    def clean_report(self) -> dict[str, Any]:
        return self.cleaned.report.to_dict()

    track_chunk_count = 1

    def track_chunks(self):
        yield self.cleaned.tracks, self.cleaned.near_keys

    def provenance_chunks(self):
        yield self.cleaned.provenance

    def duplicate_chunks(self):
        yield self.cleaned.duplicates

    def without_rows(self) -> InMemoryIngest:
        cleaned = self.cleaned
        emptied = replace(cleaned, tracks=_empty_like(cleaned.tracks), provenance=_empty_like(cleaned.provenance),
                          duplicates=_empty_like(cleaned.duplicates), near_keys=None)
        return InMemoryIngest(self.read, emptied)

    in_workers = False

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        raise NotImplementedError("an ingest held in this process is loaded by the stores' writer")


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of no rows with `frame`'s columns and types, sharing nothing with it: an empty
    slice is a view that keeps every row's arrays alive (numpy's blocks, Arrow's text buffers)."""
    return pd.DataFrame({name: pd.Series([], dtype=frame[name].dtype) for name in frame.columns}, columns=frame.columns)
