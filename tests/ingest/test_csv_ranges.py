"""`ingest.csv_ranges`: scanning a CSV's byte ranges for the places it can be cut (what reading
the parts gives is tested against reading whole in tests/test_ingest.py and tests/backends/test_batches.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.ingest.csv_ranges import _scan_quoted, scan_csv_bytes


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='a,\n\r"', max_size=60), start=st.integers(0, 10**9))
def test_a_range_without_quotes_is_scanned_as_the_quoted_path_scans_it(text, start):
    """The quote-free fast path (counting breaks by the bytes' own search) gives the scan that
    the path through the quotes' and breaks' places gives, for any bytes without a quote."""
    raw = text.replace('"', "").encode()
    assert scan_csv_bytes(raw, start) == _scan_quoted(raw, start)
    with_quotes = text.encode()
    assert scan_csv_bytes(with_quotes, start) == _scan_quoted(with_quotes, start)
