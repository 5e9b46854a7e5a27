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
stores as a `store.catalogue.CleanIngest` that reads one file at a time, so the driver holds one
bounded chunk (at most `store.catalogue.PART_ROWS` tracks) whatever the catalogue's size. The
stores then commit as for the local backend: all or nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from songscope import artists, schema
from songscope.backends.base import CleanedSources, IngestOptions, Progress
from songscope.clean import DUPLICATE_COLUMNS, CleanReport, CleanStep
from songscope.crashpoints import reach
from songscope.store import staging
from songscope.store.catalogue import PART_ROWS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

#: Rows per reading task for Parquet sources (whole row groups; a CSV file is one task).
TASK_ROWS = 500_000
#: A CSV larger than this is read in parts of about this size (cut between records), in parallel
#: and with bounded memory per task: about 450,000 rows of a typical audio-feature table.
CSV_PART_BYTES = 64 << 20

#: `artists.SEPARATOR` as a Java regular expression (Spark's split takes one).
ARTIST_SEPARATOR_PATTERN = "\\x1f"

_KIND, _ORDER_FILE, _REASON, _COLUMNS, _RAW, _NOTE = "_kind", "_file", "_reason", "_columns", "_raw", "_note"
_TRACK, _REJECTED, _SUMMARY, _ERROR = "track", "rejected", "summary", "error"


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
               (_KIND, pa.string()), (_COLUMNS, pa.string()), (_REASON, pa.string()), (_RAW, pa.string()), (_NOTE, pa.string())]
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
    from songscope.ingest import IngestError, file_digest, read_csv_part, read_one, read_parquet_part

    target = read_schema(extras)
    url, index = task["url"], task["file_index"]
    try:
        if task["byte_start"] >= 0:
            frame, rejected, summary = read_csv_part(url, task["byte_start"], task["byte_stop"], task["breaks_before"], encoding=encoding,
                                                     delimiter=delimiter, s3_endpoint=s3_endpoint)
            if task["digest"]:
                summary.sha256, summary.size_bytes = file_digest(url, s3_endpoint)
        elif task["first_group"] < 0:
            frame, rejected, summary = read_one(url, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint)
        else:
            frame, rejected, summary = read_parquet_part(url, task["first_group"], task["stop_group"], s3_endpoint=s3_endpoint)
            if task["digest"]:
                summary.sha256, summary.size_bytes = file_digest(url, s3_endpoint)
    except IngestError as exc:
        return _note_table(target, index, _ERROR, str(exc))
    columns: dict[str, Any] = {}
    n = len(frame)
    for name in target.names:
        if name == _ORDER_FILE:
            columns[name] = pa.array(np.full(n, index, dtype=np.int32))
        elif name == _KIND:
            columns[name] = pa.array([_TRACK] * n, pa.string())
        elif name in frame.columns:
            values = frame[name]
            kind = target.field(name).type
            if pa.types.is_string(kind):
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
    rejects[_KIND] = pa.array([_REJECTED] * m, pa.string())
    for name, column in ((_COLUMNS, "columns"), (_REASON, "reason"), (_RAW, "raw")):
        rejects[name] = pa.array(rejected[column].astype(object).where(rejected[column].notna(), None), pa.string())
    note = _note_table(target, index, _SUMMARY, json.dumps(summary.__dict__))
    return pa.concat_tables([tracks, pa.table(rejects, schema=target), note])


def _note_table(target: pa.Schema, index: int, kind: str, text: str) -> pa.Table:
    row = {name: pa.nulls(1, target.field(name).type) for name in target.names}
    row[_ORDER_FILE] = pa.array([index], pa.int32())
    row[_KIND] = pa.array([kind])
    row[_NOTE] = pa.array([text])
    return pa.table(row, schema=target)


def _write_staged(batches: Iterator[pa.RecordBatch], folder: str, s3_endpoint: str | None, part_rows: int) -> Iterator[pa.RecordBatch]:
    """Executor side: write this partition's rows as Parquet files of at most `part_rows` rows
    under `folder`; yield one row per file (its URI, first read position and rows)."""
    from songscope.store.lake import resolve

    fs, root = resolve(folder, s3_endpoint)
    prefix = "s3://" if folder.startswith("s3://") else ""
    fs.create_dir(root, recursive=True)
    written: list[tuple[str, int, int, int]] = []
    writer = None
    rows = 0
    current = ""
    first_file = first_line = -1

    def close() -> None:
        nonlocal writer
        if writer is not None:
            writer.close()
            written.append((prefix + current, first_file, first_line, rows))
            writer = None

    for batch in batches:
        start = 0
        while start < batch.num_rows:
            if writer is None:
                current = f"{root}/part-{uuid.uuid4().hex}.parquet"
                writer = pq.ParquetWriter(fs.open_output_stream(current), batch.schema, compression="zstd")
                rows = 0
                first_file = int(batch.column(_ORDER_FILE)[start].as_py()) if _ORDER_FILE in batch.schema.names else 0
                first_line = int(batch.column(schema.LINE_COLUMN)[start].as_py()) if schema.LINE_COLUMN in batch.schema.names else 0
            take = min(part_rows - rows, batch.num_rows - start)
            writer.write_batch(batch.slice(start, take))
            rows += take
            start += take
            if rows >= part_rows:
                close()
    close()
    if written:
        uris, files, lines, counts = zip(*written)
        yield pa.RecordBatch.from_pydict({"uri": list(uris), "first_file": list(files), "first_line": list(lines), "rows": list(counts)})


def stage(df: DataFrame, folder: str, s3_endpoint: str | None, part_rows: int = PART_ROWS) -> list[tuple[str, int]]:
    """Have the executors write `df` as Parquet files under `folder` (local, ``file://`` or
    ``s3://``), in `df`'s order: (URI, rows) of each file, in order."""
    def write(batches):
        return _write_staged(batches, folder, s3_endpoint, part_rows)

    files = df.mapInArrow(write, "uri string, first_file long, first_line long, rows long").collect()
    # Partitions come back in their order; within the sorted frame that is reading order.
    ordered = sorted(files, key=lambda r: (r["first_file"], r["first_line"]))
    return [(r["uri"], int(r["rows"])) for r in ordered]


def read_staged(uri: str, s3_endpoint: str | None) -> pd.DataFrame:
    from songscope.store.lake import resolve

    fs, path = resolve(uri, s3_endpoint)
    with fs.open_input_file(path) as handle:
        return pq.read_table(handle).to_pandas()


@dataclass
class StagedIngest:
    """A `store.catalogue.CleanIngest` read back one staged file at a time."""

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
            yield read_staged(uri, self.s3_endpoint).drop(columns=[_ORDER_FILE], errors="ignore")

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

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        """The executors load the staged files into the database's staging tables and write the
        new tracks' catalogue files (see `store.staging`): one task per staged file."""
        from songscope.engines.spark import spark_session

        tasks = [(kind, part, uri) for kind in ("tracks", "provenance", "rejected") for part, (uri, _) in enumerate(self.files[kind])]
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
    frame = read_staged(uri, s3_endpoint).drop(columns=[_ORDER_FILE], errors="ignore")
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

        from songscope.engines.spark import spark_session
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
            notes = parsed.where(f"{_KIND} IN ('{_SUMMARY}', '{_ERROR}')").select(_ORDER_FILE, _KIND, _NOTE).toPandas()
            errors = notes[notes[_KIND] == _ERROR].sort_values(_ORDER_FILE)
            if len(errors):
                raise IngestError(errors[_NOTE].iloc[0])
            if plan_error is not None:  # a header the executors read without complaint (not seen; kept safe)
                raise plan_error
            summaries = _merge_summaries(notes[notes[_KIND] == _SUMMARY], urls, SourceSummary)
            for summary in summaries:
                if summary.rows_read == 0:
                    raise IngestError(f"{summary.uri}: the file has a header but no data rows")
            rows_read = sum(s.rows_read for s in summaries)
            reach("ingest:read")
            timings["read"] = time.perf_counter() - t0
            say(f"cleaning {rows_read:,} rows on Spark")
            t0 = time.perf_counter()
            folder, release = staging_folder(self.scratch, f"ingest-{uuid.uuid4().hex}", s3_endpoint)
            try:
                cleaned = clean_on_spark(parsed, extras, options.outlier_rules, options.loose)
                files = {
                    "tracks": stage(cleaned.tracks, f"{folder}/tracks", s3_endpoint),
                    "provenance": stage(cleaned.provenance, f"{folder}/provenance", s3_endpoint),
                    "rejected": stage(cleaned.rejected, f"{folder}/rejected", s3_endpoint),
                    "duplicates": stage(cleaned.duplicates, f"{folder}/duplicates", s3_endpoint),
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


#: A staged folder older than this belongs to a job that died (no Spark job of songscope's runs a day).
SCRATCH_MAX_AGE_S = 24 * 3600
#: The folders songscope stages into under the scratch location.
SCRATCH_PREFIXES = ("ingest-", "assignments-")


def sweep_scratch(scratch: str, s3_endpoint: str | None, max_age_s: float = SCRATCH_MAX_AGE_S) -> list[str]:
    """Remove staged folders under `scratch` that a job which died left, judged by age (a running
    job's folder is younger); returns what was removed."""
    import pyarrow.fs as pafs

    from songscope.store.lake import resolve

    fs, root = resolve(scratch, s3_endpoint)
    prefix = "s3://" if scratch.startswith("s3://") else ""
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError:
        return []
    newest: dict[str, float] = {}
    for info in infos:
        parts = info.path[len(root):].strip("/").split("/")
        if info.type == pafs.FileType.File and parts[0].startswith(SCRATCH_PREFIXES) and info.mtime is not None:
            newest[parts[0]] = max(newest.get(parts[0], 0.0), info.mtime.timestamp())
    removed = []
    for folder, mtime in sorted(newest.items()):
        if time.time() - mtime > max_age_s:
            _remove(f"{prefix}{root}/{folder}", s3_endpoint)
            removed.append(f"{prefix}{root}/{folder}")
    return removed


def staging_folder(scratch: str | None, name: str, s3_endpoint: str | None) -> tuple[str, Callable[[], None]]:
    """A folder `name` for executors' files under `scratch` (a new temporary folder when None), and
    the call that removes it (and the temporary folder) once its files are in the stores. `name`
    starts with one of `SCRATCH_PREFIXES`, so `sweep_scratch` finds it if the job dies first."""
    base = scratch or tempfile.mkdtemp(prefix="songscope-spark-")
    folder = f"{base.rstrip('/')}/{name}"

    def remove() -> None:
        _remove(folder, s3_endpoint)
        if scratch is None:
            shutil.rmtree(base, ignore_errors=True)

    return folder, remove


def _remove(folder: str, s3_endpoint: str | None) -> None:
    from songscope.store.lake import resolve

    fs, path = resolve(folder, s3_endpoint)
    try:
        fs.delete_dir(path)
    except (OSError, FileNotFoundError):
        pass  # already gone; a folder left by a kill is only scratch


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
    from songscope.ingest import merge_notes

    merged: dict[int, Any] = {}
    for index, text in zip(notes[_ORDER_FILE], notes[_NOTE]):
        part = json.loads(text)
        if int(index) not in merged:
            merged[int(index)] = summary_type(**part)
            continue
        whole = merged[int(index)]
        for name in ("rows_read", "rows_valid", "rows_rejected"):
            setattr(whole, name, getattr(whole, name) + part[name])
        merge_notes(whole.notes, part["notes"])
        if part["sha256"]:
            whole.sha256, whole.size_bytes = part["sha256"], part["size_bytes"]
    return [merged[i] for i in range(len(urls)) if i in merged]


# ------------------------------------------------------------------------------------- cleaning


@dataclass
class SparkCleaned:
    tracks: DataFrame
    provenance: DataFrame
    rejected: DataFrame
    duplicates: DataFrame
    counts: dict[str, Any]
    rules: tuple[schema.OutlierRule, ...]
    loose: bool = False
    loose_examples: list[dict[str, str]] = field(default_factory=list)
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        """Let the executors drop what cleaning kept (once the outputs are staged)."""
        for frame in self.cached:
            frame.unpersist()

    def report(self) -> CleanReport:
        counts = self.counts
        report = CleanReport()
        report.steps = [
            CleanStep("exact duplicates", counts["valid"], counts["exact"]),
            CleanStep("same track_id", counts["exact"], counts["same_id"]),
            CleanStep("same artist, track name and duration", counts["same_id"], counts["near"]),
        ]
        if self.loose:
            report.steps[-1] = CleanStep("same artist, track name and duration", counts["same_id"], counts["before_loose"])
            report.steps.append(CleanStep("loose near duplicates", counts["before_loose"], counts["near"]))
            report.loose_applied = True
        report.loose_candidates = counts["loose"]
        report.loose_examples = self.loose_examples
        report.id_conflicts = counts["id_conflicts"]
        report.outlier_rules = {rule.name: counts[f"rule{i}"] for i, rule in enumerate(self.rules)}
        report.outliers = counts["outliers"]
        return report


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def clean_on_spark(parsed: DataFrame, extras: list[str], rules: tuple[schema.OutlierRule, ...], loose: bool = False) -> SparkCleaned:
    """`clean.clean`'s rules as DataFrame operations on the valid rows of `parsed` (see the module)."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    canonical = list(schema.CANONICAL_COLUMNS)
    rows = parsed.where(F.col(_KIND) == _TRACK).drop(_KIND, _COLUMNS, _REASON, _RAW, _NOTE)
    rejected = (parsed.where(F.col(_KIND) == _REJECTED)
                .select(F.col(schema.SOURCE_COLUMN).alias("source"), F.col(schema.LINE_COLUMN).alias("line"),
                        F.col(_COLUMNS).alias("columns"), F.col(_REASON).alias("reason"), F.col(_RAW).alias("raw"), _ORDER_FILE)
                .orderBy(_ORDER_FILE, "line"))
    read_order = [F.col(_ORDER_FILE), F.col(schema.LINE_COLUMN)]
    preference = [F.coalesce(F.col("popularity"), F.lit(-1)).desc(), *read_order]

    # 1. exact duplicates: the first row read of each group of rows equal on every canonical column
    exact = Window.partitionBy(*[_quote(c) for c in canonical]).orderBy(*read_order)
    alive = rows.withColumn("_rank", F.row_number().over(exact)).where("_rank = 1").drop("_rank")

    # 2. the same track id with conflicting values: the preferred row stays
    # Each intermediate result that more than one output reads is kept (`SparkCleaned.release`
    # lets it go), or every output would recompute the chain from the first step.
    kept: list[DataFrame] = []

    def keep(frame: DataFrame) -> DataFrame:
        kept.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return kept[-1]

    by_id = Window.partitionBy("track_id")
    ranked = keep(alive.withColumn("_copies", F.count(F.lit(1)).over(by_id))
                  .withColumn("_rank", F.row_number().over(by_id.orderBy(*preference))))
    conflicts = keep(_describe_conflicts(ranked.where("_copies > 1")))
    alive_id = ranked.where("_rank = 1").drop("_copies", "_rank")
    exact_count, id_count = ranked.count(), alive_id.count()

    # 3. the same artists (as a set), track name and duration: the preferred row stays, the others are recorded
    alive_id = alive_id.withColumn("_artist_set", F.array_join(F.array_sort(F.array_distinct(F.split(F.col("artists"), ARTIST_SEPARATOR_PATTERN))),
                                                               artists.SEPARATOR))
    near_group = Window.partitionBy("_artist_set", "track_name", "duration_ms")
    ranked = keep(alive_id.withColumn("_rank", F.row_number().over(near_group.orderBy(*preference)))
                  .withColumn("_kept", F.first("track_id").over(near_group.orderBy(*preference).rowsBetween(Window.unboundedPreceding, Window.currentRow))))
    near = (ranked.where("_rank > 1").select(F.lit("same artist, track name and duration").alias("rule"), F.col("_kept").alias("kept_track_id"),
                                              F.col("track_id").alias("dropped_track_id"), F.lit("").alias("detail"), F.lit(1).cast("long").alias("dropped_rows")))
    survivors = ranked.where("_rank = 1").drop("_rank", "_kept", "_artist_set")

    # 4. loose near duplicates on normalised names: always reported, removed only when asked
    loose_pairs = keep(_loose_pairs(survivors))
    merges = near.select(F.col("dropped_track_id").alias("_dropped"), F.col("kept_track_id").alias("_into"))
    if loose:
        loose_rows = loose_pairs.select(F.lit("loose: normalised names, duration within 2 s").alias("rule"), "kept_track_id",
                                        "dropped_track_id", F.lit("").alias("detail"), F.lit(1).cast("long").alias("dropped_rows"))
        near = near.unionByName(loose_rows)
        dropped = loose_pairs.select(F.col("dropped_track_id").alias("_gone"))
        survivors = survivors.join(dropped, survivors["track_id"] == dropped["_gone"], "left_anti")
        # A row step 3 merged into a track that the loose rule then merged goes to the final one.
        loose_map = loose_pairs.select(F.col("dropped_track_id").alias("_from"), F.col("kept_track_id").alias("_to"))
        merges = (merges.join(loose_map, merges["_into"] == loose_map["_from"], "left")
                  .select("_dropped", F.coalesce("_to", "_into").alias("_into"))
                  .unionByName(loose_map.select(F.col("_from").alias("_dropped"), F.col("_to").alias("_into"))))

    # Every input row points at the track it became (only steps 3 and 4 change ids).
    merges = keep(merges)
    mapped = (rows.join(merges, rows["track_id"] == merges["_dropped"], "left")
              .withColumn("_final", F.coalesce("_into", "track_id")))
    if extras:
        mapped = keep(mapped)
    provenance = (mapped.select(F.col("_final").alias("track_id"), schema.SOURCE_COLUMN, schema.LINE_COLUMN, _ORDER_FILE)
                  .dropDuplicates(["track_id", schema.SOURCE_COLUMN, schema.LINE_COLUMN])
                  .orderBy(_ORDER_FILE, schema.LINE_COLUMN))

    tracks = survivors.select(*[_quote(c) for c in canonical], _ORDER_FILE, schema.LINE_COLUMN)
    if extras:
        tracks = tracks.join(_merged_labels(mapped, extras), "track_id", "left")
    flags = []
    for rule in rules:
        flags.append(F.when(F.expr(f"{_quote(rule.column)} {rule.op} {rule.threshold!r}"), F.lit(rule.name)))
    tracks = tracks.withColumn("outlier_rules", F.concat_ws("; ", *flags) if flags else F.lit(""))
    tracks = tracks.withColumn("is_outlier", F.col("outlier_rules") != "")
    # Reading order stays with the rows until the stores take them (`StagedIngest` drops it).
    tracks = tracks.orderBy(_ORDER_FILE, schema.LINE_COLUMN).select(*[_quote(c) for c in canonical + extras], "is_outlier", "outlier_rules",
                                                                    _ORDER_FILE, schema.LINE_COLUMN)

    duplicates = conflicts.unionByName(near)
    tracks = keep(tracks)
    aggregates = [F.count(F.lit(1)).alias("near"), F.sum(F.col("is_outlier").cast("long")).alias("outliers")]
    for i, rule in enumerate(rules):
        aggregates.append(F.sum(F.expr(f"CAST({_quote(rule.column)} {rule.op} {rule.threshold!r} AS LONG)")).alias(f"rule{i}"))
    counts = tracks.agg(*aggregates).first().asDict()
    counts["valid"] = rows.count()
    counts["exact"], counts["same_id"] = exact_count, id_count
    counts["id_conflicts"] = conflicts.select("kept_track_id").distinct().count()
    counts["loose"] = loose_pairs.count()
    counts["before_loose"] = counts["near"] + (counts["loose"] if loose else 0)
    counts = {k: int(v or 0) for k, v in counts.items()}
    examples = [{"kept": r["kept_text"], "dropped": r["dropped_text"]} for r in loose_pairs.orderBy(*_PAIR_ORDER).limit(10).collect()]
    return SparkCleaned(tracks, provenance, rejected, duplicates.select(*DUPLICATE_COLUMNS), counts, rules, loose, examples, kept)


_PAIR_ORDER = ("kept_file", "kept_line", "dropped_file", "dropped_line")
_PAIR_SCHEMA = ("kept_track_id string, dropped_track_id string, kept_file int, kept_line long, dropped_file int, dropped_line long, "
                "kept_text string, dropped_text string")


def _loose_pairs(survivors: DataFrame) -> DataFrame:
    """`clean`'s loose rule on Spark: names normalised by `clean.normalise_names` in the executors,
    each group of equal normalised names matched by `clean.loose_matches`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = ["track_id", "artist_name", "track_name", "duration_ms", "popularity", _ORDER_FILE, schema.LINE_COLUMN]

    def normalise(frames):
        from songscope.clean import normalise_names

        for frame in frames:
            for column, target in (("artist_name", "_artist"), ("track_name", "_title")):
                codes, names = pd.factorize(frame[column].astype(str), sort=False)
                frame[target] = normalise_names(pa.array(np.asarray(names, dtype=object), type=pa.string())).to_numpy(zero_copy_only=False)[codes]
            yield frame

    def match(group: pd.DataFrame) -> pd.DataFrame:
        from songscope.clean import format_minutes, loose_matches

        group = group.assign(_pop=group["popularity"].fillna(-1)).sort_values(["_pop", _ORDER_FILE, schema.LINE_COLUMN],
                                                                              ascending=[False, True, True]).reset_index(drop=True)
        out = []
        for kept, dropped in loose_matches(group.index.to_numpy(), group["duration_ms"].to_numpy(dtype=float)):
            k, d = group.iloc[kept], group.iloc[dropped]
            out.append((k["track_id"], d["track_id"], int(k[_ORDER_FILE]), int(k[schema.LINE_COLUMN]), int(d[_ORDER_FILE]), int(d[schema.LINE_COLUMN]),
                        f"{k['artist_name']} - {k['track_name']} ({format_minutes(k['duration_ms'])})",
                        f"{d['artist_name']} - {d['track_name']} ({format_minutes(d['duration_ms'])})"))
        return pd.DataFrame(out, columns=[c.split()[0] for c in _PAIR_SCHEMA.split(", ")])

    names = survivors.select(*columns).mapInPandas(normalise, survivors.select(*columns).schema.add("_artist", "string").add("_title", "string"))
    names = names.where("_artist != '' AND _title != ''")
    names = names.withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("_artist", "_title"))).where("_n > 1").drop("_n")
    return names.groupBy("_artist", "_title").applyInPandas(match, _PAIR_SCHEMA)


def _describe_conflicts(contested: DataFrame) -> DataFrame:
    """(rule, kept, dropped, detail, dropped_rows): one record per contested track id, its rows
    that the preferred row replaced worded by `clean.describe_conflict` and counted by
    `clean.counted_conflicts`, as the local backend does (labels are merged, not compared)."""
    columns = list(schema.CANONICAL_COLUMNS)
    integer = [c.name for c in schema.NUMERIC_COLUMNS if c.integer]

    def describe(group: pd.DataFrame) -> pd.DataFrame:
        from songscope.clean import counted_conflicts, describe_conflict

        group = group.sort_values("_rank")
        for name in integer:
            group[name] = group[name].astype("Int64")
        kept = group.iloc[0]
        out = [("same track_id, conflicting values", kept["track_id"], row["track_id"], describe_conflict(kept[columns], row[columns]), 1)
               for _, row in group.iloc[1:].iterrows()]
        return counted_conflicts(pd.DataFrame(out, columns=DUPLICATE_COLUMNS))

    return contested.select(*[_quote(c) for c in columns], "_rank").groupBy("track_id").applyInPandas(
        describe, "rule string, kept_track_id string, dropped_track_id string, detail string, dropped_rows long")


def _merged_labels(mapped: DataFrame, extras: list[str]) -> DataFrame:
    """Per final track: each label column's values from every row it absorbed, split on ``|``,
    unique, in reading order, joined with ``|`` (a track of one row keeps its value as read)."""
    from pyspark.sql import functions as F

    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for name in extras:
        aggregates.append(F.sort_array(F.collect_list(F.struct(_ORDER_FILE, schema.LINE_COLUMN, F.col(_quote(name)).alias("v")))).alias(f"_l{extras.index(name)}"))
        aggregates.append(F.first(F.col(_quote(name)), ignorenulls=False).alias(f"_one{extras.index(name)}"))
    grouped = mapped.groupBy(F.col("_final").alias("track_id")).agg(*aggregates)
    columns = [F.col("track_id")]
    for i, name in enumerate(extras):
        parts = F.filter(F.flatten(F.transform(F.filter(F.col(f"_l{i}"), lambda x: x["v"].isNotNull()),
                                               lambda x: F.split(x["v"], r"\|"))), lambda p: p != "")
        joined = F.when(F.size(F.array_distinct(parts)) > 0, F.array_join(F.array_distinct(parts), "|"))
        columns.append(F.when(F.col("_rows") == 1, F.col(f"_one{i}")).otherwise(joined).alias(name))
    return grouped.select(*columns)
