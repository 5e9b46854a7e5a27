"""Finding and decoding sources: CSV or Parquet files, folders, globs, ``file://`` and ``s3://``.

Every row read ends in exactly one of two places: the validated frame (`validate`), or the rejected
table with its source, line, the columns at fault, the reason and its raw content. Nothing is
dropped silently. A file that is not a usable table at all (empty, binary, wrong delimiter,
columns missing, ...) raises `IngestError` naming the file, what is wrong and how to fix it,
before anything is written.

Line numbers are the physical line of the row in its file (the header is line 1); for Parquet
sources they are the 1-based row number. A big CSV is read in parts cut between records
(`scan_csv_range`, `csv_ranges.csv_parts`), so threads or Spark's executors can read one file in parallel.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from songscope import schema
from songscope.ingest.csv_ranges import CsvRangeScan, scan_csv_bytes
from songscope.ingest.validate import REJECTED_COLUMNS, IngestError, Progress, artists_joined_by, canonical_names, validate
from songscope.memory import release_freed_memory
from songscope.store import lake as lake_io

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 1 << 16


@dataclass
class SourceSummary:
    """What one source file contributed."""

    uri: str
    sha256: str
    size_bytes: int
    format: str
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # source column -> canonical name
    #: Values read by a documented mapping, and optional values set missing: description ->
    #: {"count", "first_line", "first_value"} (see `validate`).
    notes: dict[str, dict] = field(default_factory=dict)


@dataclass
class IngestResult:
    """Validated rows (canonical columns, extra label columns, ``source`` and ``line``) and rejects."""

    frame: pd.DataFrame | None
    rejected: pd.DataFrame
    sources: list[SourceSummary]
    _rows_valid: int | None = None

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sources)

    @property
    def rows_valid(self) -> int:
        return len(self.frame) if self.frame is not None else int(self._rows_valid or 0)

    def release_rows(self) -> None:
        """Let the valid rows go once cleaning has made tracks of them (a copy of the whole input
        otherwise held until the end of the ingest); their count stays."""
        self._rows_valid = self.rows_valid
        self.frame = None

    def summary(self) -> dict[str, object]:
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": len(self.rejected),
            "sources": [s.__dict__ for s in self.sources],
        }

    def first_rejected(self) -> dict[str, object] | None:
        """The first rejected row's source, line and reason (what an ingest that kept nothing names), or None."""
        if not len(self.rejected):
            return None
        row = self.rejected.iloc[0]
        return {"source": row["source"], "line": int(row["line"]), "reason": row["reason"]}




def read_sources(
    patterns: Iterable[str],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    s3_endpoint: str | None = None,
    progress: Progress | None = None,
    required: tuple[str, ...] = schema.REQUIRED_COLUMNS,
) -> IngestResult:
    """Read and validate every file the patterns name, in order, as one table.

    Parameters
    ----------
    patterns : paths, folders, globs or ``s3://`` URLs of CSV or Parquet files.
    encoding : text encoding of CSV files; UTF-8 by default (a byte order mark is accepted).
    delimiter : field separator of CSV files.
    required : the columns every file must have (`schema.required_columns` of its feature set).

    Examples
    --------
    >>> from songscope.seed import seed_paths
    >>> result = read_sources(seed_paths())
    >>> result.rows_read, len(result.rejected)
    (20301, 0)
    """
    urls = expand_sources(patterns, s3_endpoint)
    frames, rejects, summaries = [], [], []
    for url in urls:
        if progress:
            progress(f"reading {url}")
        frame, rejected, summary = read_one(url, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint, required=required)
        # Arrow's allocator and the C library keep what parsing freed for reuse; hand it back, or a
        # million-row file holds about 450 MB more than its rows need for the rest of the ingest.
        release_freed_memory()
        frames.append(frame)
        rejects.append(rejected)
        summaries.append(summary)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    rejected = pd.concat(rejects, ignore_index=True) if len(rejects) > 1 else rejects[0]
    return IngestResult(frame=frame, rejected=rejected, sources=summaries)


def check_delimiter(delimiter: str) -> str:
    """The CSV delimiter, if it is one character other than a quote or a line break."""
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise IngestError(f"--delimiter must be one character other than a quote or a line break, such as ',' ';' or '\\t'; got {delimiter!r}")
    return delimiter


def expand_sources(patterns: Iterable[str], s3_endpoint: str | None = None) -> list[str]:
    """The files the patterns name (paths, folders, globs, ``s3://``), each once, in order; an
    `IngestError` names a pattern that matches nothing."""
    urls: list[str] = []
    for pattern in patterns:
        found = lake_io.expand(pattern, s3_endpoint, CSV_SUFFIXES + PARQUET_SUFFIXES)
        if not found:
            raise IngestError(f"{pattern}: no such file, or no CSV/Parquet file matches it")
        urls.extend(u for u in found if u not in urls)
    if not urls:
        raise IngestError("no sources given: name at least one CSV or Parquet file, folder or glob")
    return urls


def read_one(
    url: str, *, encoding: str = "utf-8", delimiter: str = ",", s3_endpoint: str | None = None,
    required: tuple[str, ...] = schema.REQUIRED_COLUMNS,
) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
    """Read and validate one file; see `read_sources`."""
    raw = lake_io.read_bytes(url, s3_endpoint)
    summary = SourceSummary(
        uri=url, sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw), format="csv"
    )
    if not raw:
        raise IngestError(f"{url}: the file is empty (0 bytes); expected a CSV or Parquet table with a header row")
    if url.lower().endswith(PARQUET_SUFFIXES) or raw[:4] == b"PAR1":
        summary.format = "parquet"
        table, lines, invalid = _read_parquet(url, raw)
    else:
        table, lines, invalid = _read_csv(url, raw, encoding=encoding, delimiter=delimiter)
    del raw  # parsed: the file's bytes are not needed while validating (a second copy of the file)
    frame, rejected = _validated(url, table, lines, invalid, summary, required)
    if summary.rows_read == 0:
        raise IngestError(f"{url}: the file has a header but no data rows")
    return frame, rejected, summary


def _validated(url: str, table: pa.Table, lines: np.ndarray, invalid: list[InvalidRow], summary: SourceSummary,
               required: tuple[str, ...] = schema.REQUIRED_COLUMNS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical names, validation, and the rows the parser could not split joined to the
    rejected rows in line order; the summary's columns and counts filled in."""
    summary.columns = {src: dst for src, dst in zip(table.column_names, canonical_names(url, table.column_names, required))}
    table = table.rename_columns(list(summary.columns.values()))
    frame, rejected = validate(table, source=url, lines=lines, notes=summary.notes, artists_joined_by=artists_joined_by(summary.columns))
    if invalid:
        rejected = pd.concat([_invalid_rows_frame(url, invalid), rejected], ignore_index=True)
        rejected = rejected.sort_values("line", kind="stable", ignore_index=True)
    summary.rows_valid = len(frame)
    summary.rows_rejected = len(rejected)
    summary.rows_read = summary.rows_valid + summary.rows_rejected
    return frame, rejected


# ------------------------------------------------------------------- reading in parts (Spark backend)
#
# The Spark backend reads in its executors with these, so both backends share one reader and one
# validation: the same aliases, ranges and reasons, by construction.


def source_columns(url: str, *, encoding: str = "utf-8", delimiter: str = ",", s3_endpoint: str | None = None) -> list[str]:
    """The canonical column names a source will have, from its header or footer alone (checked as
    `read_one` checks them): a plan for readers that see one part of a file at a time."""
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        with fs.open_input_file(path) as handle:
            head = handle.read(_SNIFF_BYTES)
            if url.lower().endswith(PARQUET_SUFFIXES) or head[:4] == b"PAR1":
                handle.seek(0)
                names = pq.ParquetFile(handle).schema_arrow.names
            else:
                names, _ = _header_row(url, lambda size: _read_range(url, 0, size, s3_endpoint), delimiter, encoding)
    except (OSError, FileNotFoundError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{url}: cannot be read ({exc})") from exc
    return [n for n in canonical_names(url, names) if n != "__index__"]


def parquet_row_groups(url: str, s3_endpoint: str | None = None) -> list[int]:
    """Rows in each row group of a Parquet file (from its footer)."""
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        with fs.open_input_file(path) as handle:
            metadata = pq.ParquetFile(handle).metadata
    except (OSError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{url}: not a readable Parquet file ({exc})") from exc
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def read_parquet_part(url: str, first: int, stop: int, *, s3_endpoint: str | None = None,
                      required: tuple[str, ...] = schema.REQUIRED_COLUMNS) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
    """Read and validate row groups ``first..stop-1`` of a Parquet file: the rows `read_one` would
    give for them, numbered by their place in the whole file. The summary's content hash is left
    empty, and its size 0 (`file_digest` reads the whole file once)."""
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            offset = sum(parquet.metadata.row_group(i).num_rows for i in range(first))
            table = parquet.read_row_groups(list(range(first, stop)))
    except (OSError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{url}: not a readable Parquet file ({exc})") from exc
    summary = SourceSummary(uri=url, sha256="", size_bytes=0, format="parquet")
    summary.columns = {src: dst for src, dst in zip(table.column_names, canonical_names(url, table.column_names, required))}
    table = table.rename_columns(list(summary.columns.values()))
    frame, rejected = validate(table, source=url, lines=np.arange(offset + 1, offset + table.num_rows + 1, dtype=np.int64), notes=summary.notes,
                               artists_joined_by=artists_joined_by(summary.columns))
    summary.rows_valid, summary.rows_rejected = len(frame), len(rejected)
    summary.rows_read = summary.rows_valid + summary.rows_rejected
    return frame, rejected, summary


#: Encodings in which a line break and a double quote are the single bytes 0x0A and 0x22 and no
#: other character contains either: a CSV in one of them can be cut at a line break found by bytes.
_BYTE_SAFE_ENCODINGS = frozenset({"utf-8", "utf8", "utf-8-sig", "ascii", "latin-1", "latin1", "iso-8859-1", "cp1252", "windows-1252"})


def csv_splittable(url: str, encoding: str, s3_endpoint: str | None = None) -> bool:
    """Whether a CSV source can be read in byte ranges (not compressed; a byte-safe encoding, and
    no UTF-16 byte order mark that makes it UTF-16 whatever the encoding asked for)."""
    if url.lower().endswith(".gz") or encoding.replace("_", "-").lower() not in _BYTE_SAFE_ENCODINGS:
        return False
    return _encoding_of(_read_range(url, 0, 2, s3_endpoint), encoding) == encoding


def file_size(url: str, s3_endpoint: str | None = None) -> int:
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        return int(fs.get_file_info(path).size or 0)
    except (OSError, FileNotFoundError) as exc:
        raise IngestError(f"{url}: cannot be read ({exc})") from exc


def _read_range(url: str, start: int, stop: int, s3_endpoint: str | None) -> bytes:
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        with fs.open_input_file(path) as handle:
            return handle.read_at(stop - start, start)
    except (OSError, FileNotFoundError) as exc:
        raise IngestError(f"{url}: cannot be read ({exc})") from exc


def scan_csv_range(url: str, start: int, stop: int, s3_endpoint: str | None = None) -> CsvRangeScan:
    """Count the line breaks and quotes of a byte range of a CSV (an executor's share of a big file)."""
    return scan_csv_bytes(_read_range(url, start, stop, s3_endpoint), start)


def read_csv_part(url: str, start: int, stop: int, breaks_before: int, *, encoding: str = "utf-8", delimiter: str = ",",
                  s3_endpoint: str | None = None, required: tuple[str, ...] = schema.REQUIRED_COLUMNS,
                  ) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
    """Read and validate the records in bytes [start, stop) of a CSV (cut by `csv_parts`): the rows
    `read_one` gives for them, with the same line numbers. The first part holds the header; the
    others take it from the file's first line. The summary's hash and size are left empty."""
    summary = SourceSummary(uri=url, sha256="", size_bytes=0, format="csv")
    raw = _read_range(url, start, stop, s3_endpoint)
    if start == 0:
        table, lines, invalid = _read_csv(url, raw, encoding=encoding, delimiter=delimiter)
    else:
        header, header_bytes = _header_row(url, lambda size: _read_range(url, 0, min(size, start), s3_endpoint), delimiter, encoding)
        table, lines, invalid = _read_csv(url, raw, encoding=encoding, delimiter=delimiter, header=header, lines_before=breaks_before,
                                          longest_row=header_bytes)
    del raw
    frame, rejected = _validated(url, table, lines, invalid, summary, required)
    return frame, rejected, summary


def file_digest(url: str, s3_endpoint: str | None = None) -> tuple[str, int]:
    """SHA-256 and size of a file, read in blocks (never whole)."""
    try:
        return lake_io.sha256(url, s3_endpoint)
    except OSError as exc:
        raise IngestError(f"{url}: cannot be read ({exc})") from exc


# --------------------------------------------------------------------------------------- reading


@dataclass
class InvalidRow:
    line: int
    expected: int
    actual: int
    text: str


def _read_parquet(url: str, raw: bytes) -> tuple[pa.Table, np.ndarray, list[InvalidRow]]:
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{url}: not a readable Parquet file ({exc})") from exc
    return table, np.arange(1, table.num_rows + 1, dtype=np.int64), []


def _read_csv(url: str, raw: bytes, *, encoding: str, delimiter: str, header: list[str] | None = None,
              lines_before: int = 0, longest_row: int = 0) -> tuple[pa.Table, np.ndarray, list[InvalidRow]]:
    """Parse CSV bytes as text columns: the table, each record's physical line, the records that
    could not be split. With `header` the bytes are a later part of a file (no header row of its
    own), and `lines_before` line breaks precede them."""
    if header is not None:
        return _read_csv_records(url, _as_utf8(url, raw, encoding, lines_before=lines_before), header, delimiter, header_row=False,
                                 lines_before=lines_before, longest_row=longest_row)
    encoding = _encoding_of(raw, encoding)
    if b"\x00" in raw[:_SNIFF_BYTES] and not _is_wide(encoding):
        raise IngestError(
            f"{url}: this is binary data, not a text table (NUL bytes in the first "
            f"{min(len(raw), _SNIFF_BYTES):,} bytes); expected a CSV file or a .parquet file"
        )
    raw = _as_utf8(url, raw, encoding)
    header, header_bytes = _header_row(url, lambda size: raw[:size], delimiter)
    if not any(name.strip() for name in header):
        raise IngestError(f"{url}: the first line is blank; expected a header row naming the columns")
    if len(header) == 1:
        for other, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", "comma")):
            if other != delimiter and other in header[0]:
                raise IngestError(
                    f"{url}: the header has one column, and it contains {label}s: the file looks "
                    f"{label}-separated. Pass --delimiter {other!r} (the default is ',')"
                )
    return _read_csv_records(url, raw, header, delimiter, header_row=True, longest_row=header_bytes)


#: The longest header row read (a wider table is no audio-feature table).
MAX_HEADER_BYTES = 16 << 20


def _header_row(url: str, prefix: Callable[[int], bytes], delimiter: str, encoding: str = "utf-8") -> tuple[list[str], int]:
    """The header's names, read whole however long it is (a prefix of the file, `prefix(size)`,
    that grows until the first record ends inside it), and its length in bytes of UTF-8."""
    size = _SNIFF_BYTES
    while True:
        head = prefix(size)
        whole_file = len(head) < size
        codec = _encoding_of(head, encoding)
        if codec.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") and head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        try:
            text = head.decode(codec, errors="replace").removeprefix("\ufeff")
        except LookupError:
            raise IngestError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1") from None
        handle = io.StringIO(text)
        try:
            header = next(csv.reader(handle, delimiter=delimiter), [])
        except csv.Error as exc:  # a column name over 128 KiB
            raise IngestError(f"{url}: the header row cannot be read as column names ({exc}); expected a first line naming the columns") from None
        if handle.tell() < len(text) or whole_file:
            return header, len(text[: handle.tell()].encode("utf-8"))
        if size >= MAX_HEADER_BYTES:
            raise IngestError(f"{url}: the header row is longer than {MAX_HEADER_BYTES >> 20} MiB; expected a table whose first line names its columns")
        size *= 2


def _read_csv_records(url: str, raw: bytes, header: list[str], delimiter: str, *, header_row: bool,
                      lines_before: int = 0, longest_row: int = 0) -> tuple[pa.Table, np.ndarray, list[InvalidRow]]:
    names = [f"f{i}" for i in range(len(header))]
    invalid: list[InvalidRow] = []
    if not header_row and not raw.replace(b"\r", b"").replace(b"\n", b""):
        # A later part holding only blank lines (the whole file skips them too): no records.
        empty = pa.table({name: pa.array([], pa.string()) for name in names}).rename_columns(header)
        return empty, np.empty(0, dtype=np.int64), invalid

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(InvalidRow(row.number or -1, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    def parse(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(raw),
            # A block must hold a whole row: at least twice the header (rows as wide as it, and wider).
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(header_row), use_threads=use_threads,
                                           block_size=max(1 << 20, 4 * longest_row)),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = parse(use_threads=True)
        if invalid:
            # Only a single-threaded parse knows which record an invalid row was; rare, so re-read.
            invalid.clear()
            table = parse(use_threads=False)
        record_lines = _record_lines(raw, table.num_rows + len(invalid) + int(header_row), delimiter) + lines_before
        if len(record_lines) != table.num_rows + len(invalid) + int(header_row):
            # Fewer records than the file holds: Arrow's threaded reader once (pyarrow 22, in CI)
            # gave back only the first of a 1.35 MB file's two blocks. Read again on one thread.
            invalid.clear()
            table = parse(use_threads=False)
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{url}: cannot be parsed as CSV ({exc})") from exc
    if len(record_lines) != table.num_rows + len(invalid) + int(header_row):
        raise IngestError(f"{url}: read as {table.num_rows + len(invalid):,} records but it holds {len(record_lines) - int(header_row):,}; "
                          "the CSV reader lost some: read it again, and report this if it repeats")
    table = table.rename_columns(header)
    # pyarrow numbers records from 1 (the header, when read, is record 1); map to physical lines.
    invalid_records = np.array(sorted(r.line for r in invalid), dtype=np.int64)
    for row in invalid:
        row.line = int(record_lines[row.line - 1]) if 0 < row.line <= len(record_lines) else row.line
    kept = np.ones(len(record_lines), dtype=bool)
    kept[0] = not header_row  # the header is no record
    kept[invalid_records - 1] = False
    return table, record_lines[kept], invalid


def _is_utf8(raw: bytes) -> bool:
    """Whether `raw` is valid UTF-8, checked by Arrow in place (decoding a large file to a Python
    string only to check it would hold a second copy of it)."""
    if len(raw) >= 2**31:
        offsets_type, offsets = pa.large_string(), np.array([0, len(raw)], dtype=np.int64)
    else:
        offsets_type, offsets = pa.string(), np.array([0, len(raw)], dtype=np.int32)
    text = pa.Array.from_buffers(offsets_type, 1, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _encoding_of(head: bytes, encoding: str) -> str:
    """The encoding to read a file in: the one asked for, except that a UTF-16 byte order mark
    makes a file UTF-16 (the default, UTF-8, cannot be meant)."""
    if head.startswith(_UTF16_BOMS) and (encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") or _is_wide(encoding)):
        return "utf-16"
    return encoding


def _is_wide(encoding: str) -> bool:
    """UTF-16 and UTF-32 write NUL bytes in every ASCII character: no sign of binary data there."""
    return encoding.replace("_", "-").lower().startswith(("utf-16", "utf16", "utf-32", "utf32"))


def _as_utf8(url: str, raw: bytes, encoding: str, *, lines_before: int = 0) -> bytes:
    """UTF-8 bytes without a byte order mark, or an IngestError that says where decoding failed
    (`lines_before`: line breaks before `raw` in its file, when it is a part of one)."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if _is_utf8(raw):
            return raw
        try:  # only to say where it fails
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = lines_before + raw[: exc.start].count(b"\n") + 1
            raise IngestError(
                f"{url}: line {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}). "
                "If the file was saved as Latin-1 or Windows-1252, pass --encoding latin-1 (or cp1252)"
            ) from None
        return raw
    try:
        return raw.decode(_encoding_of(raw[:2], encoding)).removeprefix("\ufeff").encode("utf-8")
    except LookupError:
        raise IngestError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1") from None
    except UnicodeDecodeError as exc:
        raise IngestError(f"{url}: cannot be decoded as {encoding} at byte offset {exc.start}") from None


def _record_lines(raw: bytes, n_records: int, delimiter: str) -> np.ndarray:
    """Physical line (1-based) on which each CSV record starts, header included.

    Fast path: with no line breaks inside quoted values every non-blank line is one record.
    Otherwise (the count disagrees) fall back to the csv module, which follows quoting.
    """
    buffer = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero(buffer == 10)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(raw)]))
    lengths = ends - starts
    # A line holding only "\r" is blank too (CRLF files).
    last_char = buffer[np.maximum(ends - 1, 0)] if len(raw) else np.array([], dtype=np.uint8)
    blank = (lengths == 0) | ((lengths == 1) & (last_char == 13))
    nonblank = np.flatnonzero(~blank) + 1
    if len(nonblank) == n_records:
        return nonblank.astype(np.int64)
    # Lines end at "\n" only, as in the fast path (a lone "\r" inside a quoted value starts no
    # line), so numbering does not depend on whether a file has line breaks inside quotes.
    text = raw.decode("utf-8")
    reader = csv.reader((line + "\n" for line in text.split("\n")), delimiter=delimiter)
    lines = []
    start = 1
    for row in reader:
        if row:
            lines.append(start)
        start = reader.line_num + 1
    return np.array(lines, dtype=np.int64)


def _invalid_rows_frame(url: str, invalid: list[InvalidRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": url,
            "line": [r.line for r in invalid],
            "columns": "*",
            "reason": [f"has {r.actual} fields where the header has {r.expected}" for r in invalid],
            "raw": [r.text for r in invalid],
        },
        columns=REJECTED_COLUMNS,
    )
