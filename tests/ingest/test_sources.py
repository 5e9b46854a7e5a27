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


def test_records_a_threaded_parse_lost_are_read_again_on_one_thread(tmp_path, monkeypatch):
    """Arrow's threaded CSV reader once gave back only a file's first block (pyarrow 22, in CI):
    the count of records the file holds catches it, and one thread reads the file whole."""
    import pyarrow.csv as pacsv

    from songscope.ingest import sources

    path = tmp_path / "songs.csv"
    path.write_text("\n".join([HEADER] + [row(f"t{i}") for i in range(50)]) + "\n")
    real_read_csv = pacsv.read_csv
    threaded = []

    def losing_blocks(source, read_options=None, **options):
        table = real_read_csv(source, read_options=read_options, **options)
        threaded.append(read_options.use_threads)
        return table.slice(0, 20) if read_options.use_threads else table

    monkeypatch.setattr(sources.pacsv, "read_csv", losing_blocks)
    read = read_sources([str(path)])
    assert threaded == [True, False]
    assert read.rows_read == 50 and list(read.frame["track_id"]) == [f"t{i}" for i in range(50)]
    assert list(read.frame["line"]) == list(range(2, 52))
