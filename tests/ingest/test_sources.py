"""`ingest.sources`: what a read reports of the rows it rejected."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.ingest.sources import read_sources
from tests.test_bad_inputs import HEADER, row


def test_the_first_rejected_row_is_named_by_its_file_line_and_reason(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([HEADER, row("t1"), row("t2", energy="loud"), row("t3", tempo=-5)]) + "\n")
    read = read_sources([str(bad)])
    first = read.first_rejected()
    assert first["source"].endswith("bad.csv") and first["line"] == 3 and "energy" in first["reason"]
    good = tmp_path / "good.csv"
    good.write_text("\n".join([HEADER, row("t1")]) + "\n")
    assert read_sources([str(good)]).first_rejected() is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='a,\n\r"', max_size=60), start=st.integers(0, 10**9))
def test_a_range_without_quotes_is_scanned_as_the_quoted_path_scans_it(text, start):
    """The quote-free fast path (counting breaks by the bytes' own search) gives the scan that
    the path through the quotes' and breaks' places gives, for any bytes without a quote."""
    from songscope.ingest.sources import _scan_quoted, scan_csv_bytes

    raw = text.replace('"', "").encode()
    assert scan_csv_bytes(raw, start) == _scan_quoted(raw, start)
    with_quotes = text.encode()
    assert scan_csv_bytes(with_quotes, start) == _scan_quoted(with_quotes, start)
