"""Spark's scratch folders: Parquet files the executors write for the driver to stream into the stores.

Not to be confused with the database's staging tables (`store.staging`). A folder lives under the
scratch location of the settings (``SONGSCOPE_SPARK_SCRATCH``: a path every executor can reach, or
``s3://``), or a new temporary folder on ``local[*]``; it is removed once its files are in the
stores, and `sweep_scratch` removes what a job that died left.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from songscope import schema
from songscope.store.catalogue_parts import PART_ROWS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

#: The column of a row's source file (its position among the sources read), kept in reading order.
ORDER_FILE = "_file"


def _write_parts(batches: Iterator[pa.RecordBatch], folder: str, s3_endpoint: str | None, part_rows: int) -> Iterator[pa.RecordBatch]:
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
                first_file = int(batch.column(ORDER_FILE)[start].as_py()) if ORDER_FILE in batch.schema.names else 0
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


def write_scratch(df: DataFrame, folder: str, s3_endpoint: str | None, part_rows: int = PART_ROWS) -> list[tuple[str, int]]:
    """Have the executors write `df` as Parquet files under `folder` (local, ``file://`` or
    ``s3://``), in `df`'s order: (URI, rows) of each file, in order."""
    def write(batches):
        return _write_parts(batches, folder, s3_endpoint, part_rows)

    files = df.mapInArrow(write, "uri string, first_file long, first_line long, rows long").collect()
    # Partitions come back in their order; within the sorted frame that is reading order.
    ordered = sorted(files, key=lambda r: (r["first_file"], r["first_line"]))
    return [(r["uri"], int(r["rows"])) for r in ordered]


def read_scratch(uri: str, s3_endpoint: str | None) -> pd.DataFrame:
    from songscope.store.lake import resolve

    fs, path = resolve(uri, s3_endpoint)
    with fs.open_input_file(path) as handle:
        return pq.read_table(handle).to_pandas()


#: A scratch folder older than this belongs to a job that died (no Spark job of songscope's runs a day).
SCRATCH_MAX_AGE_S = 24 * 3600
#: The folders songscope writes into under the scratch location.
SCRATCH_PREFIXES = ("ingest-", "assignments-")


def sweep_scratch(scratch: str, s3_endpoint: str | None, max_age_s: float = SCRATCH_MAX_AGE_S) -> list[str]:
    """Remove scratch folders under `scratch` that a job which died left, judged by age (a running
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


def scratch_folder(scratch: str | None, name: str, s3_endpoint: str | None) -> tuple[str, Callable[[], None]]:
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
