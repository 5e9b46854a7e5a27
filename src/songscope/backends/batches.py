"""The local backend's ingest of sources of any size: read in parts on every core, cleaned on keys,
streamed to the stores in batches.

Each part of the sources (`ingest.parts`) is read, validated and keyed (`row_keys.row_keys`) on a
thread of its own. The rows wait in batches, and their keys by part (`part_keys.PartKeys`): in
memory while the input is small enough to hold (`BATCH_ROWS`), on disk beyond it, a part or so a
batch (`SPILL_ROWS`). Cleaning decides on the keys of the rows that share one with another row
(`part_keys.shared_keys`, `clean.decide`), so the result is the one a single pass over the whole
input gives, and then each batch is made into tracks (`clean.materialise`) while the stores write
the one before. Memory is bounded by a few batches and the keys of the rows that share one (about
90 bytes each), not by the sources' size.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from songscope import schema
from songscope.backends.part_keys import PartKeys, shared_keys
from songscope.clean import Decisions, decide, materialise, provenance_of
from songscope.crashpoints import reach
from songscope.ingest.sources import IngestResult
from songscope.memory import release_freed_memory
from songscope.row_keys import as_batch, row_keys
from songscope.store import staging
from songscope.store.clean_ingest import ReadHere
from songscope.temporary import temporary_folder

#: Rows a batch holds: what the stores are handed at a time, and what is held in memory before
#: batches go to disk (at a million rows, the ingest's peak is under 1 GiB).
BATCH_ROWS = 1_000_000
#: Rows a batch on disk holds, at least (a part read is never cut): about one part of a big CSV
#: (`ingest.parts.CSV_PART_BYTES`), so each part goes to disk as it was read, not joined to
#: others first (a copy of a million rows), and the store stage holds two batches of this size,
#: the one it stores and the one made beside it, instead of two of `BATCH_ROWS`.
SPILL_ROWS = 200_000


class Batches:
    """Validated rows in batches, in the order read: in memory up to `hold_rows` (in batches of
    `batch_rows`), then on disk (in `folder`, removed by `close`), in batches of `spill_rows` or
    more. A batch on disk is read back whole when asked for."""

    def __init__(self, batch_rows: int = BATCH_ROWS, hold_rows: int = BATCH_ROWS, spill_rows: int = SPILL_ROWS):
        self.batch_rows, self.hold_rows, self.spill_rows = batch_rows, hold_rows, spill_rows
        self.starts: list[int] = []  # first row of each batch
        self._held: list[pd.DataFrame | None] = []
        self._files: list[Path | None] = []
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0
        self.rows = 0
        self.columns: list[str] = []  # of every batch, in order of first appearance
        self.folder: Path | None = None
        self.spilling = False

    def add(self, frame: pd.DataFrame) -> None:
        self.columns += [c for c in frame.columns if c not in self.columns]
        self._pending.append(frame)
        self._pending_rows += len(frame)
        if not self.spilling and self.rows + self._pending_rows > self.hold_rows:
            self._start_spilling()
        if self._pending_rows >= (self.spill_rows if self.spilling else self.batch_rows):
            self._seal()

    def finish(self) -> None:
        """No more rows: the last batch sealed (the only one, held whole, when all fit)."""
        if self._pending:
            self._seal()

    def _start_spilling(self) -> None:
        """The input does not fit: every batch held goes to disk, and every later one."""
        self.spilling = True
        for number, held in enumerate(self._held):
            if held is not None:
                self._files[number] = self._spill(number, held)
                self._held[number] = None
        release_freed_memory()

    def _seal(self) -> None:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if not self.spilling:
            self._add_batch(pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0], held=True)
            return
        group: list[pd.DataFrame] = []  # each part on its own, unless it is smaller than a batch on disk
        group_rows = 0
        for number, frame in enumerate(pending):
            group.append(frame)
            group_rows += len(frame)
            if group_rows >= self.spill_rows or number == len(pending) - 1:
                self._add_batch(pd.concat(group, ignore_index=True) if len(group) > 1 else group[0], held=False)
                group, group_rows = [], 0
        del pending, frame
        release_freed_memory()

    def _add_batch(self, frame: pd.DataFrame, *, held: bool) -> None:
        self.starts.append(self.rows)
        self.rows += len(frame)
        self._held.append(frame if held else None)
        self._files.append(None if held else self._spill(len(self._files), frame))

    def _spill(self, number: int, frame: pd.DataFrame) -> Path:
        if self.folder is None:
            self.folder = temporary_folder("ingest")
        path = self.folder / f"batch-{number:05d}.pickle"
        with open(path, "wb") as handle:  # pickle keeps every column's type (Arrow's text included); our own file
            pickle.dump(frame, handle, protocol=5)
        return path

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, number: int) -> pd.DataFrame:
        held = self._held[number]
        if held is not None:
            return held
        with open(self._files[number], "rb") as handle:  # type: ignore[arg-type]
            return pickle.load(handle)  # noqa: S301 - a file this process wrote

    def drop(self, number: int) -> None:
        """Let a batch held in memory go (the stores have what it gave); one on disk stays until `close`."""
        self._held[number] = None

    def fetch(self, rows: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows by their number in the whole input, in the order asked, indexed by that number:
        the `columns` named (all by default; one a batch lacks is missing there). Only those are
        copied: the repeated rows of a labelled dump, fetched whole, were a quarter of its peak."""
        rows = np.asarray(rows, dtype=np.int64)
        columns = self.columns if columns is None else columns
        found = []
        owners = np.searchsorted(np.asarray(self.starts), rows, side="right") - 1
        for number in np.unique(owners):
            mine = rows[owners == number]
            batch = self.batch(int(number))
            present = [c for c in columns if c in batch.columns]
            found.append(batch.iloc[mine - self.starts[number], batch.columns.get_indexer(present)].set_axis(mine))
        if not found:
            return pd.DataFrame(columns=columns)
        frame = pd.concat(found) if len(found) > 1 else found[0]
        return frame.reindex(columns=columns).loc[rows]

    def close(self) -> None:
        self._held = [None] * len(self._held)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@dataclass
class BatchedIngest(ReadHere):
    """A `store.clean_ingest.CleanIngest` whose rows wait in `Batches`: each batch is made into tracks
    on a second thread while the stores write the one before."""

    #: The sources' summaries and rejected rows, without the rows (`ingest.IngestResult`).
    read: IngestResult
    report: Any  # clean.CleanReport
    batches: Batches | None
    #: Every part's keys, the tracks and the provenance are made with.
    keys: PartKeys | None
    decisions: Decisions | None
    #: (first row, rows, source) of each part read, in order: the provenance's sources.
    spans: list[tuple[int, int, str]] = field(default_factory=list)

    def clean_report(self) -> dict[str, Any]:
        return self.report.to_dict()

    @property
    def track_chunk_count(self) -> int:
        return 0 if self.batches is None or self.keys is None or self.decisions is None else len(self.batches)

    def track_chunks(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        batches, keys, decisions = self.batches, self.keys, self.decisions
        if batches is None or keys is None or decisions is None:
            return

        def made(number: int) -> tuple[pd.DataFrame, np.ndarray]:
            batch, first = batches.batch(number), batches.starts[number]
            return materialise(batch, first, *keys.between(first, first + len(batch), "outliers", "near_keys"), decisions)

        with ThreadPoolExecutor(1, thread_name_prefix="materialise") as beside:
            following = beside.submit(made, 0) if len(batches) else None
            for number in range(len(batches)):
                chunk = following.result()  # type: ignore[union-attr]
                batches.drop(number)  # what the tracks do not share (sources, lines, ...) is let go with them
                following = beside.submit(made, number + 1) if number + 1 < len(batches) else None
                yield chunk
                del chunk
                release_freed_memory()  # the chunk's copies, made on the other thread (its own allocator arena)

    def provenance_chunks(self) -> Iterator[pd.DataFrame]:
        if self.keys is None or self.decisions is None:
            return
        for number, (first, _, source) in enumerate(self.spans):
            yield provenance_of(first, source, self.keys.keys(number), self.decisions)

    def duplicate_chunks(self) -> Iterator[pd.DataFrame]:
        if self.decisions is not None:
            yield self.decisions.duplicates

    def without_rows(self) -> BatchedIngest:
        self.release()
        return replace(self, batches=None, keys=None, decisions=None, spans=[])

    def release(self) -> None:
        if self.batches is not None:
            self.batches.close()
        if self.keys is not None:
            self.keys.close()

    in_workers = False

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        raise NotImplementedError("an ingest held in this process is loaded by the stores' writer")


def read_and_clean_in_batches(urls: list[str], *, encoding: str, delimiter: str, s3_endpoint: str | None, required: tuple[str, ...],
                              outlier_rules: tuple[schema.OutlierRule, ...], loose: bool, progress=None,
                              batch_rows: int | None = None, hold_rows: int | None = None, spill_rows: int | None = None,
                              workers: int | None = None,
                              **plan_options) -> tuple[BatchedIngest, dict[str, float]]:
    """Read, validate and clean `urls` (files, as `ingest.expand_sources` finds them) in parts on
    `workers` threads (one per core); returns the ingest, to store, and the seconds of reading
    (read, validate, key) and of cleaning (the decisions)."""
    import time

    from songscope.ingest.parts import add_part_summary, plan_parts, read_in_parts, read_part

    workers = workers or os.cpu_count() or 1
    batches = Batches(batch_rows or BATCH_ROWS, BATCH_ROWS if hold_rows is None else hold_rows, spill_rows or SPILL_ROWS)
    keys = PartKeys(BATCH_ROWS if hold_rows is None else hold_rows)
    rejected: list[pd.DataFrame] = []
    summaries: dict[int, Any] = {}
    spans: list[tuple[int, int, str]] = []
    rows = 0
    t0 = time.perf_counter()

    def work(part):
        frame, part_rejected, summary = read_part(part, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint, required=required)
        frame = as_batch(frame)
        return frame, row_keys(frame, outlier_rules), part_rejected, summary

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="read-part") as pool:
            parts = plan_parts(urls, encoding=encoding, s3_endpoint=s3_endpoint, pool=pool, workers=workers, **plan_options)
            for part, (frame, part_keys, part_rejected, summary) in read_in_parts(parts, work, pool=pool, ahead=workers):
                if progress:
                    of_file = [p for p in parts if p.file_index == part.file_index]
                    progress(f"read {part.url}" + (f", part {of_file.index(part) + 1} of {len(of_file)}" if len(of_file) > 1 else "")
                             + f": {rows + len(frame):,} valid rows so far")
                if part.file_index in summaries:
                    add_part_summary(summaries[part.file_index], summary)
                else:
                    summaries[part.file_index] = summary
                spans.append((rows, len(frame), part.url))
                rows += len(frame)
                keys.add(part_keys)
                rejected.append(part_rejected)
                batches.add(frame)
                del frame
        batches.finish()
        keys.settle()
        release_freed_memory()
        reach("ingest:read")
        timings = {"read": time.perf_counter() - t0}
        if progress:
            progress(f"cleaning {rows:,} valid rows")
        t0 = time.perf_counter()
        shared = shared_keys(keys)
        decisions = decide(shared.keys, batches.columns, batches.fetch, loose=loose, outlier_rules=outlier_rules,
                           rows_of_keys=shared.rows, others=shared.others)
        del shared
        release_freed_memory()  # what deciding made and let go, before the store stage adds its own
        timings["clean"] = time.perf_counter() - t0
    except BaseException:
        batches.close()
        keys.close()
        raise
    sources = [summaries[i] for i in sorted(summaries)]
    rejects = pd.concat(rejected, ignore_index=True) if len(rejected) > 1 else rejected[0]
    read = IngestResult(frame=None, rejected=rejects, sources=sources, _rows_valid=rows)
    return BatchedIngest(read, decisions.report, batches, keys, decisions, spans), timings
