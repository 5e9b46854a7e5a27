"""`ingest.sources`: what a read reports of the rows it rejected."""

from __future__ import annotations

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
