"""Analysed audio files as an ingest's sources: each file one source of one row, validated against
the schema like any table's rows (the `audio` feature set's columns required), each file that
could not be described a rejected row with its reason."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from songscope import schema
from songscope.audio.analyze import AUDIO_EXTENSIONS
from songscope.errors import UserError
from songscope.ingest.sources import CSV_SUFFIXES, PARQUET_SUFFIXES, IngestResult, SourceSummary
from songscope.ingest.validate import REJECTED_COLUMNS, canonical_names, validate
from songscope.jsonable import dumps

#: What an analysed row carries beyond its features and names: labels the catalogue keeps.
LABELS = ("album", "genre", "isrc")
FORMAT = "audio"
_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


def read_analysed(results: list, features: schema.FeatureSet = schema.AUDIO) -> IngestResult:
    """`audio.analyze` results (`Analysed` rows and `Rejected` files) as an `IngestResult`."""
    from songscope.audio.analyze import Analysed

    analysed = [r for r in results if isinstance(r, Analysed)]
    failed = [r for r in results if not isinstance(r, Analysed)]
    summaries = {}
    for result in analysed:
        summaries[str(result.file.path)] = SourceSummary(str(result.file.path), result.row["content_sha256"], result.file.size, FORMAT, rows_read=1)
    for result in failed:
        summaries[str(result.file.path)] = SourceSummary(str(result.file.path), _EMPTY_DIGEST, result.file.size, FORMAT, rows_read=1, rows_rejected=1)
    rejected = [{"source": str(r.file.path), "line": 1, "columns": "file", "reason": r.reason,
                 "raw": dumps({"file": str(r.file.path), "size_bytes": r.file.size}, ascii_only=False)} for r in failed]
    frame = None
    if analysed:
        paths = np.array([str(r.file.path) for r in analysed], dtype=object)
        columns = ["track_id", "artist_name", "artists", "track_name", *features.names, *LABELS]
        table = pa.Table.from_pylist([{c: r.row.get(c) for c in columns} for r in analysed])
        canonical_names("audio files", table.column_names, schema.required_columns(features))
        lines = np.arange(1, len(analysed) + 1)
        frame, bad = validate(table, source=FORMAT, lines=lines)
        # One file, one source: each row's provenance is its own file.
        frame[schema.SOURCE_COLUMN] = paths[frame[schema.LINE_COLUMN].to_numpy() - 1]
        frame[schema.LINE_COLUMN] = 1
        if len(bad):
            for line in bad["line"]:
                summaries[paths[line - 1]].rows_rejected = 1
            bad = bad.assign(source=paths[bad["line"].to_numpy() - 1], line=1)
            rejected += bad.to_dict("records")
    for summary in summaries.values():
        summary.rows_valid = summary.rows_read - summary.rows_rejected
    rejected_frame = pd.DataFrame.from_records(rejected, columns=REJECTED_COLUMNS).astype({"line": "int64"})
    if frame is None:
        frame = pd.DataFrame(columns=list(schema.CANONICAL_COLUMNS) + [schema.SOURCE_COLUMN, schema.LINE_COLUMN])
    return IngestResult(frame=frame, rejected=rejected_frame, sources=list(summaries.values()))


def file_rows(results: list) -> pd.DataFrame:
    """The files as `store.audio_files.record` takes them: what a later ingest of the same folder
    skips while they stay as they are, and what the web app plays. A file that could not be
    described has no song (an empty track id): its rejected row says why, once."""
    from songscope.audio.analyze import Analysed

    rows = [{"path": str(r.file.path), "track_id": r.row["track_id"] if isinstance(r, Analysed) else "", "size_bytes": r.file.size,
             "mtime_ns": r.file.mtime_ns, "content_sha256": r.row["content_sha256"] if isinstance(r, Analysed) else ""} for r in results]
    return pd.DataFrame(rows, columns=["path", "track_id", "size_bytes", "mtime_ns", "content_sha256"])


def holds_audio(sources: Iterable[str | Path]) -> bool:
    """Whether `sources` name audio files (files, or local folders holding them) rather than
    tables; a list naming both is refused, in one line, since one ingest reads one kind."""
    kinds = set()
    for given in sources:
        text = str(given)
        if "://" in text and not text.startswith("file://"):
            kinds.add("table")  # s3:// and the like: tables (audio is read from this machine's files)
            continue
        path = Path(text.removeprefix("file://"))
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            kinds.add("audio")
        elif path.is_dir():
            kinds.add(_folder_kind(path))
        else:
            kinds.add("table")
    if len(kinds - {"empty"}) > 1:
        raise UserError("these sources mix audio files and tables: ingest them in two commands (an ingest reads one kind)")
    return kinds - {"empty"} == {"audio"}


def _folder_kind(folder: Path) -> str:
    """What a folder holds, by the first audio or table file found in it (a library of thousands
    of files is not walked to its end for this)."""
    for _, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                return "audio"
            if name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):  # what `read_sources` reads
                return "table"
    return "empty"
