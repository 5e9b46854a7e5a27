"""The Spark backend of ingest and clean: every row is read, validated and cleaned by the executors.

Reading: the driver lists the files and reads only headers and Parquet footers, to plan one task
per CSV file and one per run of Parquet row groups. Each task reads its part with pyarrow and
validates it with `ingest.validate`, the local backend's own code, so both backends apply the same
aliases, ranges and reasons by construction. Files are opened inside the executors (local paths,
``file://``, or ``s3://`` with pyarrow's S3 client), so Spark needs no hadoop-aws jars and no row
passes through the driver.

Cleaning is DataFrame operations with the rules of `songscope.clean`: exact duplicates, then the
same track id with conflicting values (kept: highest popularity, then first read), then the same
artist, track name and duration; labels merged in reading order; outliers flagged by the rules.
The few conflicting groups are described by `clean.describe_conflicts`, the local wording.

The results are written by the executors as Parquet files to a staging folder, and handed to the
stores as a `store.clean_ingest.CleanIngest` that reads one file at a time, so the driver holds one
bounded chunk (at most `store.catalogue_parts.PART_ROWS` tracks) whatever the catalogue's size. The
stores then commit as for the local backend: all or nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from songscope import schema
from songscope.backends.base import CleanedSources, IngestOptions, Progress
from songscope.backends.spark.clean import COLUMNS_COLUMN, KIND_COLUMN, NOTE_COLUMN, RAW_COLUMN, REASON_COLUMN, REJECTED_KIND, TRACK_KIND, clean_on_spark
from songscope.backends.spark.scratch import ORDER_FILE as _ORDER_FILE
from songscope.backends.spark.scratch import read_scratch, scratch_folder, write_scratch
from songscope.clean import CleanReport
from songscope.crashpoints import reach
from songscope.ingest import parts
from songscope.jsonable import dumps
from songscope.store import staging
from songscope.store.catalogue_parts import PART_ROWS
from songscope.textcolumns import held_by_arrow

if TYPE_CHECKING:  # pragma: no cover
    pass

#: Rows per reading task for Parquet sources (whole row groups; a CSV file is one task).
TASK_ROWS = 500_000
#: A CSV larger than this is read in parts of about this size (cut between records), in parallel
#: and with bounded memory per task: the local backend's part size.
CSV_PART_BYTES = parts.CSV_PART_BYTES

_SUMMARY, _ERROR = "summary", "error"


def _arrow_type(name: str) -> pa.DataType:
    column = schema.NUMERIC_BY_NAME.get(name)
    if column is None:
        return pa.string()
    return pa.int64() if column.integer else pa.float64()


def read_schema(extras: list[str]) -> pa.Schema:
    """What every reading task yields: valid rows, rejected rows, file summaries and errors, told
    apart by ``_kind`` (one stream, so each part of a file is read once)."""
    fields = [(name, _arrow_type(name)) for name in schema.CANONICAL_COLUMNS]
    fields += [(name, pa.string()) for name in extras]
    fields += [(schema.SOURCE_COLUMN, pa.string()), (schema.LINE_COLUMN, pa.int64()), (_ORDER_FILE, pa.int32()),
               (KIND_COLUMN, pa.string()), (COLUMNS_COLUMN, pa.string()), (REASON_COLUMN, pa.string()), (RAW_COLUMN, pa.string()), (NOTE_COLUMN, pa.string())]
    return pa.schema(fields)


@dataclass
class _Task:
    url: str
    file_index: int
    first_group: int = -1  # Parquet: row groups first..stop-1; CSV: the whole file (-1)
    stop_group: int = -1
    digest: bool = True  # this task also hashes the whole file for its summary
    byte_start: int = -1  # a big CSV: its records in bytes byte_start..byte_stop-1
    byte_stop: int = -1
    breaks_before: int = 0  # line breaks before byte_start (for the records' line numbers)


def _read_task(task: dict, extras: list[str], encoding: str, delimiter: str, s3_endpoint: str | None) -> pa.Table:
    """One reading task, run in an executor: its part of a file, validated, in `read_schema`."""
    from songscope.ingest import IngestError
    from songscope.ingest.parts import Part, read_part

    target = read_schema(extras)
    url, index = task["url"], task["file_index"]
    if task["byte_start"] >= 0:
        part = Part(url, index, "csv", task["byte_start"], task["byte_stop"], task["breaks_before"], digest=task["digest"])
    elif task["first_group"] < 0:
        part = Part(url, index)
    else:
        part = Part(url, index, "parquet", task["first_group"], task["stop_group"], digest=task["digest"])
    try:
        frame, rejected, summary = read_part(part, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint)
    except IngestError as exc:
        return _note_table(target, index, _ERROR, str(exc))
    columns: dict[str, Any] = {}
    n = len(frame)
    for name in target.names:
        if name == _ORDER_FILE:
            columns[name] = pa.array(np.full(n, index, dtype=np.int32))
        elif name == KIND_COLUMN:
            columns[name] = pa.array([TRACK_KIND] * n, pa.string())
        elif name in frame.columns:
            values = frame[name]
            kind = target.field(name).type
            if pa.types.is_string(kind) and not held_by_arrow(values):
                values = values.astype(object).where(values.notna(), None)
            columns[name] = pa.array(values, kind, from_pandas=True)
        else:
            columns[name] = pa.nulls(n, target.field(name).type)
    tracks = pa.table(columns, schema=target)
    m = len(rejected)
    rejects = {name: pa.nulls(m, target.field(name).type) for name in target.names}
    rejects[schema.SOURCE_COLUMN] = pa.array(rejected["source"].astype(object), pa.string())
    rejects[schema.LINE_COLUMN] = pa.array(rejected["line"].astype("int64"), pa.int64())
    rejects[_ORDER_FILE] = pa.array(np.full(m, index, dtype=np.int32))
    rejects[KIND_COLUMN] = pa.array([REJECTED_KIND] * m, pa.string())
    for name, column in ((COLUMNS_COLUMN, "columns"), (REASON_COLUMN, "reason"), (RAW_COLUMN, "raw")):
        rejects[name] = pa.array(rejected[column].astype(object).where(rejected[column].notna(), None), pa.string())
    note = _note_table(target, index, _SUMMARY, dumps(summary.__dict__))
    return pa.concat_tables([tracks, pa.table(rejects, schema=target), note])


def _note_table(target: pa.Schema, index: int, kind: str, text: str) -> pa.Table:
    row = {name: pa.nulls(1, target.field(name).type) for name in target.names}
    row[_ORDER_FILE] = pa.array([index], pa.int32())
    row[KIND_COLUMN] = pa.array([kind])
    row[NOTE_COLUMN] = pa.array([text])
    return pa.table(row, schema=target)


@dataclass
class StagedIngest:
    """A `store.clean_ingest.CleanIngest` read back one staged file at a time."""

    sources: list
    rows_read: int
    report: CleanReport
    files: dict[str, list[tuple[str, int]]]
    s3_endpoint: str | None
    integer_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    #: The Spark master whose executors load the database (`load_in_parallel`).
    master: str = "local[*]"
    in_workers = True

    def read_summary(self) -> dict[str, Any]:
        rejected = sum(rows for _, rows in self.files["rejected"])
        return {"rows_read": self.rows_read, "rows_valid": self.rows_read - rejected, "rows_rejected": rejected,
                "sources": [s.__dict__ for s in self.sources]}

    def clean_report(self) -> dict[str, Any]:
        return self.report.to_dict()

    def _frames(self, what: str) -> Iterator[pd.DataFrame]:
        for uri, _ in self.files[what]:
            yield read_scratch(uri, self.s3_endpoint).drop(columns=[_ORDER_FILE], errors="ignore")

    track_chunk_count = None  # as many as the executors' files hold: known once they are read

    def track_chunks(self):
        """Chunks of `PART_ROWS` tracks (the last one smaller), whatever size the executors' files
        are: one catalogue file per chunk, and at most two files' rows held at once."""
        pending: list[pd.DataFrame] = []
        held = 0
        for frame in self._frames("tracks"):
            pending.append(self._typed(frame.drop(columns=[schema.LINE_COLUMN])))
            held += len(frame)
            while held >= PART_ROWS:
                joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                yield joined.iloc[:PART_ROWS].reset_index(drop=True), None
                pending, held = [joined.iloc[PART_ROWS:].reset_index(drop=True)], len(joined) - PART_ROWS
        if held:
            yield (pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]), None

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        return _typed(frame, self.integer_columns, self.label_columns)

    def provenance_chunks(self):
        yield from self._frames("provenance")

    def rejected_chunks(self):
        yield from self._frames("rejected")

    def duplicate_chunks(self):
        yield from self._frames("duplicates")

    def without_rows(self):
        return self  # its rows are in the executors' files, not in this process

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        """The executors load the staged files into the database's staging tables and write the
        new tracks' catalogue files (see `store.staging`): one task per staged file."""
        from songscope.backends.spark.session import spark_session

        tasks = [(kind, part, uri) for kind in ("tracks", "rejected") for part, (uri, _) in enumerate(self.files[kind])]
        results = []
        if tasks:
            load = partial(_load_staged_file, job, self.s3_endpoint, list(self.integer_columns), list(self.label_columns))
            results = spark_session(self.master).sparkContext.parallelize(tasks, len(tasks)).map(load).collect()
        return staging.Loaded([r for r in results if isinstance(r, staging.TracksLoaded)],
                              [r for r in results if isinstance(r, staging.RowsLoaded)])


def _typed(frame: pd.DataFrame, integer_columns: list[str], label_columns: list[str]) -> pd.DataFrame:
    for name in integer_columns:  # as the local backend types them
        frame[name] = frame[name].astype("Int64")
    for name in label_columns:
        frame[name] = frame[name].astype(object)
    return frame


def _load_staged_file(job: staging.ParallelLoad, s3_endpoint: str | None, integer_columns: list[str], label_columns: list[str],
                      task: tuple[str, int, str]) -> staging.TracksLoaded | staging.RowsLoaded:
    """Executor side: one staged file into the database's staging tables (and, for tracks, the lake)."""
    kind, part, uri = task
    frame = read_scratch(uri, s3_endpoint).drop(columns=[_ORDER_FILE], errors="ignore")
    if kind == "tracks":
        return staging.load_tracks(job, part, _typed(frame.drop(columns=[schema.LINE_COLUMN]), integer_columns, label_columns))
    return staging.load_rows(job, kind, part, frame)


class SparkIngest:
    """Ingest and clean on Spark (see the module's docstring)."""

    name = "spark"

    def __init__(self, master: str = "local[*]", scratch: str | None = None):
        self.master = master
        #: Where executors stage their output: a folder every executor and the driver can reach
        #: (a local folder on one machine; an ``s3://`` prefix on a cluster).
        self.scratch = scratch

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        from pyspark import StorageLevel

        from songscope.backends.spark.session import spark_session
        from songscope.ingest import IngestError, SourceSummary, expand_sources

        encoding, delimiter, s3_endpoint = options.encoding, options.delimiter, options.s3_endpoint
        say = progress or (lambda message: None)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        urls = expand_sources(sources, s3_endpoint)
        tasks, extras, plan_error = _plan(urls, encoding, delimiter, s3_endpoint)
        spark = spark_session(self.master)
        tasks = _split_csv_tasks(spark, tasks, s3_endpoint)
        say(f"reading {len(urls):,} file{'s' * (len(urls) != 1)} in {len(tasks):,} Spark tasks")
        target = read_schema(extras)

        def read(batches):
            for batch in batches:
                for task in batch.to_pylist():
                    yield from _read_task(task, extras, encoding, delimiter, s3_endpoint).to_batches(max_chunksize=65_536)

        plan = spark.createDataFrame(pd.DataFrame([t.__dict__ for t in tasks])).repartition(len(tasks))
        from pyspark.sql.pandas.types import from_arrow_schema

        parsed = plan.mapInArrow(read, from_arrow_schema(target)).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            notes = parsed.where(f"{KIND_COLUMN} IN ('{_SUMMARY}', '{_ERROR}')").select(_ORDER_FILE, KIND_COLUMN, NOTE_COLUMN).toPandas()
            errors = notes[notes[KIND_COLUMN] == _ERROR].sort_values(_ORDER_FILE)
            if len(errors):
                raise IngestError(errors[NOTE_COLUMN].iloc[0])
            if plan_error is not None:  # a header the executors read without complaint (not seen; kept safe)
                raise plan_error
            summaries = _merge_summaries(notes[notes[KIND_COLUMN] == _SUMMARY], urls, SourceSummary)
            for summary in summaries:
                if summary.rows_read == 0:
                    raise IngestError(f"{summary.uri}: the file has a header but no data rows")
            rows_read = sum(s.rows_read for s in summaries)
            reach("ingest:read")
            timings["read"] = time.perf_counter() - t0
            say(f"cleaning {rows_read:,} rows on Spark")
            t0 = time.perf_counter()
            folder, release = scratch_folder(self.scratch, f"ingest-{uuid.uuid4().hex}", s3_endpoint)
            try:
                cleaned = clean_on_spark(parsed, extras, options.outlier_rules, options.loose)
                files = {
                    "tracks": write_scratch(cleaned.tracks, f"{folder}/tracks", s3_endpoint),
                    "provenance": write_scratch(cleaned.provenance, f"{folder}/provenance", s3_endpoint),
                    "rejected": write_scratch(cleaned.rejected, f"{folder}/rejected", s3_endpoint),
                    "duplicates": write_scratch(cleaned.duplicates, f"{folder}/duplicates", s3_endpoint),
                }
                report = cleaned.report()
                first = cleaned.rejected.limit(1).toPandas()
                cleaned.release()
            except BaseException:
                release()  # nothing staged is of use to anyone now
                raise
        finally:
            parsed.unpersist()
        reach("ingest:cleaned")
        timings["clean"] = time.perf_counter() - t0
        integer_columns = [c.name for c in schema.NUMERIC_COLUMNS if c.integer]
        data = StagedIngest(summaries, rows_read, report, files, s3_endpoint, integer_columns, list(extras), self.master)
        rows_rejected = sum(rows for _, rows in files["rejected"])
        first_rejected = None
        if len(first):
            first_rejected = {"source": first["source"].iloc[0], "line": int(first["line"].iloc[0]), "reason": first["reason"].iloc[0]}

        return CleanedSources(data=data, report=report, rows_read=rows_read, rows_valid=rows_read - rows_rejected,
                              rows_rejected=rows_rejected, first_rejected=first_rejected, timings=timings, release=release)


def _plan(urls: list[str], encoding: str, delimiter: str, s3_endpoint: str | None) -> tuple[list[_Task], list[str], Exception | None]:
    """Reading tasks, the extra (label) columns of all files in order of first appearance, and the
    first file that could not be planned. Its task still runs: reading the whole file says what is
    wrong with it in the local backend's words (an empty file, binary data, bad UTF-8)."""
    from songscope.ingest import PARQUET_SUFFIXES, IngestError, csv_splittable, file_size, parquet_row_groups, source_columns

    tasks: list[_Task] = []
    extras: list[str] = []
    first_error: Exception | None = None
    for index, url in enumerate(urls):
        try:
            names = source_columns(url, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint)
            groups = parquet_row_groups(url, s3_endpoint) if url.lower().endswith(PARQUET_SUFFIXES) else None
            size = file_size(url, s3_endpoint) if groups is None and csv_splittable(url, encoding, s3_endpoint) else 0
        except IngestError as exc:
            first_error = first_error or exc
            tasks.append(_Task(url, index))
            continue
        for name in names:
            if name not in schema.CANONICAL_COLUMNS and name not in (schema.SOURCE_COLUMN, schema.LINE_COLUMN) and name not in extras:
                extras.append(name)
        if groups is None:
            # A big CSV is split once its ranges are scanned (`_split_csv_tasks`); its size rides along.
            tasks.append(_Task(url, index, byte_start=-2, byte_stop=size) if size > CSV_PART_BYTES else _Task(url, index))
            continue
        first, rows = 0, 0
        for number, size in enumerate(groups):
            rows += size
            if rows >= TASK_ROWS or number == len(groups) - 1:
                tasks.append(_Task(url, index, first, number + 1, digest=first == 0))
                first, rows = number + 1, 0
        if not groups:
            tasks.append(_Task(url, index, 0, 0))
    return tasks, extras, first_error


def _split_csv_tasks(spark, tasks: list[_Task], s3_endpoint: str | None) -> list[_Task]:
    """Tasks with every big CSV (``byte_start == -2``) replaced by one task per part: the
    executors scan the file's byte ranges for line breaks outside quotes (one pass of counting,
    no parsing), and the parts are cut there (`ingest.csv_parts`)."""
    from songscope.ingest import csv_parts, scan_csv_range

    big = [t for t in tasks if t.byte_start == -2]
    if not big:
        return tasks
    ranges = []
    for task in big:  # byte_stop: the file's size, from planning
        ranges += [(task.file_index, task.url, a, min(a + CSV_PART_BYTES, task.byte_stop)) for a in range(0, task.byte_stop, CSV_PART_BYTES)]

    def scan(item):
        index, url, start, stop = item
        return index, scan_csv_range(url, start, stop, s3_endpoint)

    scans: dict[int, list] = {}
    for index, found in spark.sparkContext.parallelize(ranges, len(ranges)).map(scan).collect():
        scans.setdefault(index, []).append(found)
    out = []
    for task in tasks:
        if task.byte_start != -2:
            out.append(task)
            continue
        parts = csv_parts(sorted(scans[task.file_index], key=lambda s: s.start))
        out += [_Task(task.url, task.file_index, digest=number == 0, byte_start=a, byte_stop=b, breaks_before=before)
                for number, (a, b, before) in enumerate(parts)]
    return out


def _merge_summaries(notes: pd.DataFrame, urls: list[str], summary_type) -> list:
    """One summary per file from its tasks' (the rows add up; the hash comes from the task that read the whole file)."""
    from songscope.ingest.parts import add_part_summary

    merged: dict[int, Any] = {}
    for index, text in zip(notes[_ORDER_FILE], notes[NOTE_COLUMN]):
        part = summary_type(**json.loads(text))
        if int(index) in merged:
            add_part_summary(merged[int(index)], part)
        else:
            merged[int(index)] = part
    return [merged[i] for i in range(len(urls)) if i in merged]


# ------------------------------------------------------------------------------------- cleaning
