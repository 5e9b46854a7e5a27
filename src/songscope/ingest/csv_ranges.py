"""Where a big CSV can be cut between records, from its bytes alone: each byte range's line
breaks and quotes (`scan_csv_bytes`), and the parts the ranges' scans give (`csv_parts`), so the
local backend's threads and Spark's executors can each read a part (`sources.read_csv_part`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def scan_csv_bytes(raw: bytes, start: int) -> CsvRangeScan:
    """`scan_csv_range` of the bytes `raw` that lie from `start` in the file."""
    stop = start + len(raw)
    if b'"' not in raw:
        # No quote (most feature tables): every break lies outside quotes, and the bytes' own
        # search finds them several times faster than arrays of their places (54 MB: 0.03 s
        # against 0.2 s; planning a 218 MB file took 0.38 s, all of it before any part is read).
        breaks = raw.count(b"\n")
        scan = CsvRangeScan(start, stop, breaks, 0)
        if breaks:
            scan.even_break, scan.even_breaks_through = start + raw.index(b"\n"), 1
        return scan
    return _scan_quoted(raw, start)


def _scan_quoted(raw: bytes, start: int) -> CsvRangeScan:
    stop = start + len(raw)
    buffer = np.frombuffer(raw, dtype=np.uint8)
    # The quotes before each break, found by searching the quotes' places: a running count of
    # every byte would take 8 bytes a byte (512 MB for a 64 MiB range).
    quote_at = np.flatnonzero(buffer == 34)
    breaks = np.flatnonzero(buffer == 10)
    scan = CsvRangeScan(start, stop, len(breaks), len(quote_at))
    parity = np.searchsorted(quote_at, breaks) % 2 if len(breaks) else np.empty(0, dtype=np.int64)
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
