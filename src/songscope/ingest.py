"""Ingest: sources (CSV or Parquet; files, folders, globs, ``s3://``) -> validated rows + rejected rows.

Every row read ends in exactly one of two places: the validated frame, or the rejected table with
its source, line, the columns at fault, the reason and its raw content. Nothing is dropped silently.
A file that is not a usable table at all (empty, binary, wrong delimiter, columns missing, ...)
raises `IngestError` naming the file, what is wrong and how to fix it, before anything is written.

Line numbers are the physical line of the row in its file (the header is line 1); for Parquet
sources they are the 1-based row number.
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from songscope import schema
from songscope.errors import UserError
from songscope.jsonable import dumps
from songscope.store import lake as lake_io

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 1 << 16

Progress = Callable[[str], None]


class IngestError(UserError):
    """A source that cannot be ingested at all; the message names the file, the fault and the fix."""


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


REJECTED_COLUMNS = ["source", "line", "columns", "reason", "raw"]


def read_sources(
    patterns: Iterable[str],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    s3_endpoint: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Read and validate every file the patterns name, in order, as one table.

    Parameters
    ----------
    patterns : paths, folders, globs or ``s3://`` URLs of CSV or Parquet files.
    encoding : text encoding of CSV files; UTF-8 by default (a byte order mark is accepted).
    delimiter : field separator of CSV files.

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
        frame, rejected, summary = read_one(url, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint)
        # Arrow's allocator keeps what parsing freed for reuse; hand it back, or a million-row
        # file holds about 450 MB more than its rows need for the rest of the ingest.
        pa.default_memory_pool().release_unused()
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
    url: str, *, encoding: str = "utf-8", delimiter: str = ",", s3_endpoint: str | None = None
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
    frame, rejected = _validated(url, table, lines, invalid, summary)
    if summary.rows_read == 0:
        raise IngestError(f"{url}: the file has a header but no data rows")
    return frame, rejected, summary


def _validated(url: str, table: pa.Table, lines: np.ndarray, invalid: list[_InvalidRow], summary: SourceSummary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical names, validation, and the rows the parser could not split joined to the
    rejected rows in line order; the summary's columns and counts filled in."""
    summary.columns = {src: dst for src, dst in zip(table.column_names, _canonical_names(url, table.column_names))}
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
    return [n for n in _canonical_names(url, names) if n != "__index__"]


def parquet_row_groups(url: str, s3_endpoint: str | None = None) -> list[int]:
    """Rows in each row group of a Parquet file (from its footer)."""
    fs, path = lake_io.resolve(url, s3_endpoint)
    try:
        with fs.open_input_file(path) as handle:
            metadata = pq.ParquetFile(handle).metadata
    except (OSError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{url}: not a readable Parquet file ({exc})") from exc
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def read_parquet_part(url: str, first: int, stop: int, *, s3_endpoint: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
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
    summary.columns = {src: dst for src, dst in zip(table.column_names, _canonical_names(url, table.column_names))}
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


@dataclass
class CsvRangeScan:
    """What cutting a CSV needs to know of one byte range [start, stop): its line breaks and
    double quotes, and the first line break after an even and after an odd number of quotes
    counted from `start` (offset in the file, and how many breaks the range has up to it; -1: none)."""

    start: int
    stop: int
    breaks: int
    quotes: int
    even_break: int = -1
    even_breaks_through: int = -1
    odd_break: int = -1
    odd_breaks_through: int = -1


def scan_csv_range(url: str, start: int, stop: int, s3_endpoint: str | None = None) -> CsvRangeScan:
    """Count the line breaks and quotes of a byte range of a CSV (an executor's share of a big file)."""
    buffer = np.frombuffer(_read_range(url, start, stop, s3_endpoint), dtype=np.uint8)
    quotes = np.cumsum(buffer == 34)
    breaks = np.flatnonzero(buffer == 10)
    scan = CsvRangeScan(start, stop, len(breaks), int(quotes[-1]) if len(quotes) else 0)
    parity = quotes[breaks] % 2 if len(breaks) else np.empty(0, dtype=np.int64)
    for wanted, offset_name, count_name in ((0, "even_break", "even_breaks_through"), (1, "odd_break", "odd_breaks_through")):
        found = np.flatnonzero(parity == wanted)
        if len(found):
            setattr(scan, offset_name, start + int(breaks[found[0]]))
            setattr(scan, count_name, int(found[0]) + 1)
    return scan


def csv_parts(scans: list[CsvRangeScan]) -> list[tuple[int, int, int]]:
    """(start, stop, line breaks before start) of the parts a CSV is read in, from the scans of its
    consecutive ranges. Every part but the first starts just after the first line break of its
    range that lies outside quotes (an even number of quotes before it in the whole file, as
    RFC 4180 quoting, doubled quotes included, keeps it), so no record is cut, even one whose
    quoted value spans lines. A range with no such break joins the part before it."""
    if not scans:
        return []
    parts = [[scans[0].start, scans[0].stop, 0]]
    quotes = breaks = 0
    for scan in scans:
        if scan is not scans[0]:
            odd = quotes % 2 == 1
            cut, through = (scan.odd_break, scan.odd_breaks_through) if odd else (scan.even_break, scan.even_breaks_through)
            if cut >= 0:
                parts[-1][1] = cut + 1
                parts.append([cut + 1, scan.stop, breaks + through])
            else:
                parts[-1][1] = scan.stop
        quotes += scan.quotes
        breaks += scan.breaks
    return [(a, b, c) for a, b, c in parts]


def read_csv_part(url: str, start: int, stop: int, breaks_before: int, *, encoding: str = "utf-8", delimiter: str = ",",
                  s3_endpoint: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, SourceSummary]:
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
    frame, rejected = _validated(url, table, lines, invalid, summary)
    return frame, rejected, summary


def file_digest(url: str, s3_endpoint: str | None = None) -> tuple[str, int]:
    """SHA-256 and size of a file, read in blocks (never whole)."""
    fs, path = lake_io.resolve(url, s3_endpoint)
    digest, size = hashlib.sha256(), 0
    try:
        with fs.open_input_stream(path) as stream:
            while block := stream.read(8 << 20):
                digest.update(block)
                size += len(block)
    except (OSError, FileNotFoundError) as exc:
        raise IngestError(f"{url}: cannot be read ({exc})") from exc
    return digest.hexdigest(), size


# --------------------------------------------------------------------------------------- reading


@dataclass
class _InvalidRow:
    line: int
    expected: int
    actual: int
    text: str


def _read_parquet(url: str, raw: bytes) -> tuple[pa.Table, np.ndarray, list[_InvalidRow]]:
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{url}: not a readable Parquet file ({exc})") from exc
    return table, np.arange(1, table.num_rows + 1, dtype=np.int64), []


def _read_csv(url: str, raw: bytes, *, encoding: str, delimiter: str, header: list[str] | None = None,
              lines_before: int = 0, longest_row: int = 0) -> tuple[pa.Table, np.ndarray, list[_InvalidRow]]:
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
                      lines_before: int = 0, longest_row: int = 0) -> tuple[pa.Table, np.ndarray, list[_InvalidRow]]:
    names = [f"f{i}" for i in range(len(header))]
    invalid: list[_InvalidRow] = []
    if not header_row and not raw.replace(b"\r", b"").replace(b"\n", b""):
        # A later part holding only blank lines (the whole file skips them too): no records.
        empty = pa.table({name: pa.array([], pa.string()) for name in names}).rename_columns(header)
        return empty, np.empty(0, dtype=np.int64), invalid

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(_InvalidRow(row.number or -1, row.expected_columns, row.actual_columns, row.text))
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
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{url}: cannot be parsed as CSV ({exc})") from exc
    table = table.rename_columns(header)
    record_lines = _record_lines(raw, table.num_rows + len(invalid) + int(header_row), delimiter) + lines_before
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


def _canonical_names(url: str, columns: list[str]) -> list[str]:
    """Canonical names for a source's columns; fails on duplicates or missing required columns."""
    names = []
    for position, column in enumerate(columns):
        normalised = schema.normalise_column_name(column)
        if position == 0 and normalised in ("", "unnamed:_0", "index"):
            names.append("__index__")  # a pandas row index written to the file
            continue
        if not normalised:
            raise IngestError(f"{url}: column {position + 1} has no name in the header")
        if len(normalised) > schema.MAX_LABEL_NAME_LENGTH:
            raise IngestError(f"{url}: the name of column {position + 1} is {len(normalised):,} characters long ({column[:40]!r}...); "
                              f"a column's name can be at most {schema.MAX_LABEL_NAME_LENGTH} characters: rename it")
        names.append(schema.canonical_name(column))
    # songscope's own catalogue files (and a table exported from one) have both a display name and
    # every artist: there `artists` is the list, not an alias of artist_name.
    normalised = [schema.normalise_column_name(c) for c in columns]
    if "artist_name" in normalised and "artists" in normalised:
        names[normalised.index("artists")] = "artists"
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            first = columns[seen[name]]
            raise IngestError(
                f"{url}: the header names {name!r} twice (columns {seen[name] + 1} {first!r} and "
                f"{position + 1} {columns[position]!r}); rename or remove one of them"
            )
        seen[name] = position
    missing = [c for c in schema.REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise IngestError(
            f"{url}: required columns missing: {', '.join(missing)}. Found: {', '.join(columns)}. "
            f"Known aliases: {', '.join(f'{a}->{c}' for a, c in schema.ALIASES.items())}"
        )
    return names


def _invalid_rows_frame(url: str, invalid: list[_InvalidRow]) -> pd.DataFrame:
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


# ------------------------------------------------------------------------------------- validation


def validate(table: pa.Table, *, source: str, lines: np.ndarray, notes: dict[str, dict] | None = None,
             artists_joined_by: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce a table with canonical column names to the schema's types and check the ranges.

    Returns the valid rows (canonical columns first, then extra columns, then ``source`` and
    ``line``) and one rejected row per bad row, naming every column at fault.

    Values a layout spells out with one clear meaning (note names for ``key``, Major/Minor for
    ``mode``, ``4/4`` or its spreadsheet date ``4-Apr`` for ``time_signature``) are read as their
    codes; a bad value in an optional column is set missing and the row kept. Both are counted in
    `notes` (description -> count, first line, first value), never done silently.

    A song's artists (`songscope.artists`): a list literal names several, and so does a cell
    joined with `artists_joined_by` (";", or "," beside as many ids: the layout's way, see
    `artists_joined_by`); ``artist_name`` becomes the first, ``artists`` all of them,
    ``artist_ids`` their ids where the file gives as many.
    """
    n = table.num_rows
    notes = {} if notes is None else notes
    if "__index__" in table.column_names:
        table = table.drop_columns(["__index__"])
    problems: list[tuple[np.ndarray, str, list[str]]] = []  # (row indices, column, reasons)
    out: dict[str, object] = {}
    table = _as_plain_columns(table, source, problems, notes, lines)

    for name in schema.TEXT_COLUMNS:
        if name not in table.column_names:
            continue
        values = _text_array(table.column(name))
        values = pc.utf8_trim_whitespace(values)
        if name == "track_id":
            # Spotify URIs and URLs name the same id.
            values = pc.replace_substring_regex(values, r"^(?:spotify:track:|https?://open\.spotify\.com/track/)([^?]*).*$", r"\1")
        limit = schema.MAX_ID_LENGTH if name == "track_id" else schema.MAX_TEXT_LENGTH
        missing = _mask(pc.or_kleene(pc.is_null(values), pc.is_in(values, value_set=_MISSING_TEXT)))
        lengths = pc.utf8_length(values)
        too_long = _mask(pc.greater(lengths, limit))
        _add(problems, missing, name, lambda idx, name=name: [f"missing {name}"] * len(idx))
        _add_nul_problems(problems, values, name)
        _add(
            problems, too_long, name,
            lambda idx, lengths=lengths, limit=limit: [
                f"longer than {limit:,} characters ({lengths[int(i)].as_py():,})" for i in idx
            ],
        )
        out[name] = values

    if "artist_name" in out:
        _read_artists(table, out, problems, notes, lines, joined_by=artists_joined_by)

    for column in schema.NUMERIC_COLUMNS:
        if column.name not in table.column_names:
            continue
        raw = table.column(column.name)
        readable, spelled = _read_spelled(column.name, raw)
        if spelled.any():
            _note(notes, f"{column.name}: {schema.SPELLED_DESCRIPTIONS[column.name]}", spelled, lines, raw)
        numbers, unparsable, empty = _as_float(readable)
        if column.required:
            _add(problems, empty, column.name, lambda idx: ["missing value"] * len(idx))

        def originals(idx: np.ndarray, raw: pa.ChunkedArray = raw) -> list[str]:
            return [repr(v) for v in raw.take(pa.array(idx)).to_pylist()]

        finite = np.isfinite(numbers)
        # NaN where a value was written (e.g. "nan") is as unusable as inf; an empty cell is "missing".
        not_finite = np.isinf(numbers) | (np.isnan(numbers) & ~empty & ~unparsable)
        low_bad = numbers <= column.low if not column.low_inclusive else numbers < column.low
        out_of_range = finite & (low_bad | (numbers > column.high))
        faults = [
            (unparsable, "not a number", lambda idx, o=originals: [f"not a number: {v}" for v in o(idx)]),
            (not_finite, "not a finite number", lambda idx, o=originals: [f"not a finite number: {v}" for v in o(idx)]),
            (out_of_range, f"out of range {column.describe_range()}",
             lambda idx, c=column, x=numbers: [f"out of range {c.describe_range()}: {_short(x[i])}" for i in idx]),
        ]
        if column.integer:
            inexact = finite & ~out_of_range & (np.abs(numbers) > schema.MAX_EXACT_INTEGER)
            fractional = finite & ~out_of_range & ~inexact & (np.floor(numbers) != numbers)
            faults += [
                (inexact, "too large for a whole number stored exactly",
                 lambda idx, o=originals: [f"too large for a whole number stored exactly (over {schema.MAX_EXACT_INTEGER:,}): {v}" for v in o(idx)]),
                (fractional, "not a whole number", lambda idx, x=numbers: [f"not a whole number: {_short(x[i])}" for i in idx]),
            ]
        for mask, kind, reasons in faults:
            if column.required:
                _add(problems, mask, column.name, reasons)
            elif mask.any():  # an optional value's garbage costs the row nothing but that value
                numbers = np.where(mask, np.nan, numbers)
                _note(notes, f"{column.name}: {kind}, set missing (the row kept)", mask, lines, raw)
        out[column.name] = numbers

    extras = [c for c in table.column_names if c not in schema.CANONICAL_COLUMNS and c not in (schema.SOURCE_COLUMN, schema.LINE_COLUMN)]
    for name in extras:
        if pa.types.is_string(table.column(name).type) or pa.types.is_large_string(table.column(name).type):
            _add_nul_problems(problems, table.column(name), name)
    bad_rows = np.unique(np.concatenate([p[0] for p in problems])) if problems else np.array([], dtype=np.int64)
    rejected = _rejected_frame(table, source, lines, problems, bad_rows)
    keep = np.ones(n, dtype=bool)
    keep[bad_rows] = False

    frame = pd.DataFrame(index=pd.RangeIndex(int(keep.sum())))
    if "track_id" not in out:
        frame["track_id"] = None  # filled below from the other columns
    for name in schema.CANONICAL_COLUMNS:
        if name not in out:
            if name not in frame:
                frame[name] = pd.array([pd.NA] * len(frame), dtype="Int64") if name in schema.NUMERIC_BY_NAME else None
            continue
        values = out[name]
        if name == "artists" and values is out.get("artist_name"):  # one artist a song: the same strings, not a copy
            frame[name] = frame["artist_name"].to_numpy(dtype=object)
        elif isinstance(values, (pa.Array, pa.ChunkedArray)):
            frame[name] = values.filter(pa.array(keep)).to_pandas().to_numpy(dtype=object)
        else:
            kept = values[keep]  # type: ignore[index]
            if schema.NUMERIC_BY_NAME[name].integer:
                absent = np.isnan(kept)
                frame[name] = pd.arrays.IntegerArray(np.where(absent, 0, kept).astype(np.int64), absent)
            else:
                frame[name] = kept
    if "track_id" not in out:
        frame["track_id"] = derive_track_ids(frame)
    keep_idx = np.flatnonzero(keep)
    # All at once: a column at a time fragments the frame (thousands of warnings for a wide table).
    added = {name: _as_text(table.column(name).take(pa.array(keep_idx))).to_numpy() for name in extras}
    added[schema.SOURCE_COLUMN] = np.full(len(frame), source, dtype=object)
    added[schema.LINE_COLUMN] = lines[keep]
    frame = pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)
    return frame, rejected


def artists_joined_by(columns: dict[str, str]) -> str | None:
    """How a source's layout joins several artists in one cell, by its header (`columns`, source
    name -> canonical name): ";" (the 114-genre set), "," beside the artists' URIs (Exportify),
    or None (list literals only, which any layout may hold)."""
    from songscope.artists import COMMA_LAYOUT_COLUMN, SEMICOLON_LAYOUT

    normalised = {schema.normalise_column_name(source): canonical for source, canonical in columns.items()}
    if normalised.get(COMMA_LAYOUT_COLUMN) == "artist_ids":
        return ","
    artist_sources = [source for source, canonical in normalised.items() if canonical == "artist_name"]
    if artist_sources == ["artists"] and SEMICOLON_LAYOUT <= set(columns.values()):
        return ";"
    return None


def _read_artists(table: pa.Table, out: dict[str, object], problems: list, notes: dict[str, dict], lines: np.ndarray, *,
                  joined_by: str | None) -> None:
    """``artist_name`` -> the first artist, ``artists`` -> every artist (joined), ``artist_ids``
    -> their ids; list literals that cannot be read are kept whole and noted, a cell that names
    no artist at all (``[]``) rejects its row, and so does a name holding the separator."""
    from songscope import artists

    raw = out["artist_name"]
    if "artists" in table.column_names:
        _given_artists(table, out, notes, lines)
        return
    several = _mask(pc.match_substring_regex(raw, artists.LIST_PATTERN))  # `raw` is trimmed already
    # Exportify's URIs say how many artists a comma-joined cell names (read only for that layout).
    ids = _text_array(table.column("artist_ids")).to_numpy(zero_copy_only=False) if joined_by == "," and "artist_ids" in table.column_names else None
    if joined_by:
        several |= _mask(pc.match_substring(raw, joined_by))
    first = joined = raw
    if several.any():
        first_values = raw.to_numpy(zero_copy_only=False).astype(object)
        joined_values = first_values.copy()
        malformed, empty, read = (np.zeros(len(first_values), dtype=bool) for _ in range(3))
        for i in np.flatnonzero(several):
            # Joined with ",": only as many names as the cell beside it has ids (commas occur in names).
            count = None if joined_by != "," else (len(str(ids[i]).split(",")) if ids is not None and ids[i] else 0)
            parsed = artists.parse(first_values[i], joined_by=joined_by, count=count)
            malformed[i] = parsed.malformed
            read[i] = parsed.split and not parsed.malformed
            empty[i] = not parsed.names
            first_values[i] = parsed.names[0] if parsed.names else None
            joined_values[i] = parsed.joined if parsed.names else None
        first, joined = pa.array(first_values, pa.string()), pa.array(joined_values, pa.string())
        if read.any():
            how = "list literals" if not joined_by else f"list literals or {joined_by!r}-joined names"
            _note(notes, f"artist_name: {how} read as a song's artists (the first is its artist_name)", read, lines, raw)
        if malformed.any():
            _note(notes, "artist_name: a list literal that cannot be read, kept whole as one artist", malformed, lines, raw)
        _add(problems, empty, "artist_name", lambda idx: ["names no artist (an empty list)"] * len(idx))
    _add(problems, _mask(pc.match_substring(raw, artists.SEPARATOR)), "artist_name",
         lambda idx: ["contains a unit separator (U+001F), which no name may hold"] * len(idx))
    out["artist_name"], out["artists"] = first, joined
    if "artist_ids" in table.column_names:
        out["artist_ids"] = _artist_ids(_text_array(table.column("artist_ids")), joined, notes, lines, joined_by=joined_by)


def _given_artists(table: pa.Table, out: dict[str, object], notes: dict[str, dict], lines: np.ndarray) -> None:
    """A table that names every artist beside the display name (songscope's own catalogue
    files, their artists joined): taken as written, its artist_name where a song has none."""
    from songscope.artists import SEPARATOR

    given = pc.utf8_trim_whitespace(_text_array(table.column("artists")))
    given = pc.if_else(pc.fill_null(pc.equal(given, ""), True), out["artist_name"], given)
    first = pc.list_element(pc.split_pattern(given, SEPARATOR), 0)
    differs = _mask(pc.not_equal(first, out["artist_name"]))
    if differs.any():
        _note(notes, "artists: the first artist is not artist_name, artist_name put first", differs, lines, table.column("artists"))
        values, display = given.to_numpy(zero_copy_only=False).astype(object), out["artist_name"].to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(differs):
            values[i] = SEPARATOR.join([display[i], *(n for n in values[i].split(SEPARATOR) if n != display[i])])
        given = pa.array(values, pa.string())
    out["artists"] = given
    if "artist_ids" in table.column_names:
        out["artist_ids"] = _artist_ids(_text_array(table.column("artist_ids")), given, notes, lines)


def _artist_ids(raw: pa.ChunkedArray, joined: pa.Array, notes: dict[str, dict], lines: np.ndarray, joined_by: str | None = None) -> pa.Array:
    """Each song's artist ids joined as its artists are, where the cell gives one per artist; else
    missing, and noted when the cell was not empty."""
    from songscope import artists

    values = raw.to_numpy(zero_copy_only=False)
    names = joined.to_numpy(zero_copy_only=False)
    ids = np.empty(len(values), dtype=object)
    unmatched = np.zeros(len(values), dtype=bool)
    given = np.flatnonzero(_mask(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(raw)), 0)))  # most files give none
    for i in given:
        cell, song = values[i], names[i]
        if song is None:
            continue
        if artists.SEPARATOR in str(cell):
            parsed = artists.Parsed(tuple(artists.split(cell)))
        else:
            parsed = artists.parse(str(cell), joined_by=joined_by)
            parsed = artists.Parsed(tuple(n.removeprefix(artists.ARTIST_URI_PREFIX) for n in parsed.names), parsed.malformed)
        if parsed.malformed or len(parsed.names) != len(artists.split(song)):
            unmatched[i] = True
            continue
        ids[i] = parsed.joined
    if unmatched.any():
        _note(notes, "artist_ids: not one id per artist, left out (the row kept)", unmatched, lines, raw)
    return pa.array(ids, pa.string())


def derive_track_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable ids for layouts without one: a hash of artist, title and duration, prefixed ``ss``."""
    keys = frame["artist_name"].astype(str) + "\x1f" + frame["track_name"].astype(str) + "\x1f" + frame["duration_ms"].astype(str)
    return keys.map(lambda k: "ss" + hashlib.sha1(k.encode("utf-8")).hexdigest()[:22])


#: How exporters write a missing name (R writes NA, pandas NaN, SQL dumps NULL).
_MISSING_TEXT = pa.array(["", "NA", "NaN", "null", "NULL"])


def _text_array(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def _as_text(column: pa.ChunkedArray) -> pd.Series:
    return _text_array(column).to_pandas().astype(object)


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_float(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values as float64 (NaN where missing or unparsable), the unparsable mask, the empty mask."""
    n = len(column)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        # Unsafe: an integer beyond 2^53 becomes the nearest float, which `validate` then rejects
        # as too large to store exactly (a safe cast would raise for the whole column).
        values = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        empty = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return np.where(empty, np.nan, values), np.zeros(n, dtype=bool), empty
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    empty = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    filled = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(filled, pa.float64()).to_numpy(zero_copy_only=False)
        unparsable = np.zeros(n, dtype=bool)
    except pa.ArrowInvalid:
        # Some value is not a number: parse leniently to find which ones, then the numbers again
        # with Arrow, whose parse is correctly rounded (pandas' is not: 0.04600899404263515
        # became 0.0460089940426351, found by the property test in tests/test_bad_inputs.py).
        series = pd.Series(filled.to_pandas(), dtype=object)
        numeric = pd.to_numeric(series, errors="coerce").notna().to_numpy()
        values = np.full(n, np.nan)
        numbers = series[numeric].to_numpy(dtype=object)
        try:
            values[numeric] = pc.cast(pa.array(numbers, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # a spelling pandas reads and Arrow does not (none known): Python's float, also exact
            values[numeric] = [float(v) for v in numbers]
        lowered = series.str.lower()
        spelled_nan = lowered.isin(["nan", "-nan", "+nan"]).to_numpy()
        unparsable = np.isnan(values) & ~empty & ~spelled_nan
    values = np.where(empty, np.nan, values)
    return values, unparsable, empty


def _as_plain_columns(table: pa.Table, source: str, problems: list, notes: dict[str, dict], lines: np.ndarray) -> pa.Table:
    """Columns of types that no CSV has, from Parquet: bytes read as UTF-8 text (a row whose value
    is not UTF-8 is rejected, naming the column); an extra column of lists or records kept as JSON
    text (noted). A list or record where a song's own value belongs is an IngestError."""
    for position, name in enumerate(table.column_names):
        column = table.column(name)
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            values = column.to_pylist()
            decoded, bad = [], np.zeros(len(values), dtype=bool)
            for i, value in enumerate(values):
                try:
                    decoded.append(None if value is None else value.decode("utf-8"))
                except UnicodeDecodeError:
                    decoded.append(None)
                    bad[i] = True
            _add(problems, bad, name, lambda idx, values=values: [f"not UTF-8 text: {values[i]!r}"[:200] for i in idx])
            table = table.set_column(position, name, pa.array(decoded, pa.string()))
        elif name in schema.ARTIST_COLUMNS and (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_string(kind.value_type):
            from songscope.artists import SEPARATOR  # a catalogue file's lists of artists (`store.catalogue_parts`)

            table = table.set_column(position, name, pc.binary_join(column, SEPARATOR))
        elif pa.types.is_nested(kind):
            if name in schema.CANONICAL_COLUMNS:
                raise IngestError(f"{source}: column {name!r} holds {kind} values where songscope expects one value per song; "
                                  "write it as a plain column (text or number)")
            as_json = [None if v is None else dumps(v, compact=True) for v in column.to_pylist()]
            table = table.set_column(position, name, pa.array(as_json, pa.string()))
            if len(as_json):
                _note(notes, f"{name}: {kind} values kept as JSON text", np.ones(len(as_json), dtype=bool), lines, table.column(name))
    return table


def _add_nul_problems(problems: list, values: pa.ChunkedArray, column: str) -> None:
    # A NUL is no character of a name or label: PostgreSQL refuses it in text, and ids that
    # differ only after one were merged by the SQLite driver. Rejected alike on every store.
    nul = _mask(pc.match_substring(values, "\x00"))
    _add(problems, nul, column, lambda idx: ["contains a NUL character"] * len(idx))


def _note(notes: dict[str, dict], description: str, mask: np.ndarray, lines: np.ndarray, raw: pa.ChunkedArray) -> None:
    """Count the rows of `mask` under `description`, with the first one's line and value."""
    first = int(np.flatnonzero(mask)[0])
    line, value = int(lines[first]), str(raw[first].as_py())
    note = notes.setdefault(description, {"count": 0, "first_line": line, "first_value": value})
    note["count"] += int(mask.sum())
    if line < note["first_line"]:
        note["first_line"], note["first_value"] = line, value


def merge_notes(into: dict[str, dict], more: dict[str, dict]) -> None:
    """Add the notes of another part of a file to `into` (counts add up, the first line wins)."""
    for description, note in more.items():
        mine = into.setdefault(description, dict(note, count=0))
        mine["count"] += note["count"]
        if note["first_line"] < mine["first_line"]:
            mine["first_line"], mine["first_value"] = note["first_line"], note["first_value"]


def _read_spelled(name: str, column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """A text column's values that a layout spells out (`schema.SPELLED_DESCRIPTIONS`) as their
    codes, the rest as they are; and the mask of the values read so."""
    if name not in schema.SPELLED_DESCRIPTIONS or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column, np.zeros(len(column), dtype=bool)
    text = pd.Series(column.to_pandas(), dtype=object)
    spelled_out = text.str.strip().str.lower().str.replace("\u266f", "#").str.replace("\u266d", "b")
    if name == "key":
        codes = spelled_out.map(schema.NOTE_NAMES)
    elif name == "mode":
        codes = spelled_out.map(schema.MODE_NAMES)
    else:
        codes = pd.to_numeric(spelled_out.str.extract(r"^(\d{1,2})\s*(?:/\s*4|-apr)$", expand=False), errors="coerce")
    spelled = codes.notna().to_numpy()
    if not spelled.any():
        return column, spelled
    read = text.where(~spelled, codes.map(lambda code: str(int(code)) if pd.notna(code) else None))
    return pa.chunked_array([pa.array(read.to_numpy(dtype=object), type=pa.string())]), spelled


def _add(problems: list, mask: np.ndarray, column: str, reasons: Callable[[np.ndarray], list[str]]) -> None:
    idx = np.flatnonzero(mask)
    if len(idx):
        problems.append((idx, column, reasons(idx)))


def _short(value: float) -> str:
    return f"{value:g}"


def _rejected_frame(
    table: pa.Table, source: str, lines: np.ndarray, problems: list, bad_rows: np.ndarray
) -> pd.DataFrame:
    if not len(bad_rows):
        return pd.DataFrame(columns=REJECTED_COLUMNS).astype({"line": "int64"})
    by_row: dict[int, list[tuple[str, str]]] = {}
    for idx, column, reasons in problems:
        for i, reason in zip(idx.tolist(), reasons):
            by_row.setdefault(i, []).append((column, reason))
    raw_rows = table.take(pa.array(bad_rows)).to_pylist()
    records = []
    for row_index, raw in zip(bad_rows.tolist(), raw_rows):
        faults = by_row[row_index]
        records.append(
            {
                "source": source,
                "line": int(lines[row_index]),
                "columns": ",".join(dict.fromkeys(c for c, _ in faults)),
                "reason": "; ".join(f"{c}: {r}" for c, r in faults),
                "raw": dumps({k: v for k, v in raw.items() if k != "__index__"}, compact=True),
            }
        )
    return pd.DataFrame.from_records(records, columns=REJECTED_COLUMNS)
