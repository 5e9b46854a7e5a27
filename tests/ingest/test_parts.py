"""Planning a big file's parts: as many as the workers can share evenly, cut between records, the
file hashed by its last part (what each part reads is tested against reading whole in
tests/backends/test_batches.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from songscope.ingest.parts import plan_parts


@pytest.mark.parametrize(("workers", "expected"), [(1, 3), (2, 4), (3, 3), (4, 4)])
def test_a_big_csv_is_cut_into_even_parts_a_multiple_of_the_workers(tmp_path, workers, expected):
    """25,000 bytes in parts of at most 10,000: three for one worker (not 10 + 10 + 5), four
    for two, each within a record of the others' size; the last part alone hashes the file."""
    path = tmp_path / "songs.csv"
    record = "x" * 24 + "\n"  # 25 bytes a record
    path.write_text("track_id\n" + record * 1_000)
    size = path.stat().st_size
    with ThreadPoolExecutor(2) as pool:
        parts = plan_parts([str(path)], encoding="utf-8", s3_endpoint=None, pool=pool, workers=workers, csv_part_bytes=10_000)
    assert len(parts) == expected
    assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]] and parts[0].start == 0 and parts[-1].stop == size
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= len(record) + len("track_id\n")
    assert [p.digest for p in parts] == [False] * (expected - 1) + [True]


def test_a_csv_no_bigger_than_a_part_is_read_whole(tmp_path):
    path = tmp_path / "songs.csv"
    path.write_text("track_id\n" + "y" * 9 + "\n")
    with ThreadPoolExecutor(2) as pool:
        parts = plan_parts([str(path)], encoding="utf-8", s3_endpoint=None, pool=pool, workers=2, csv_part_bytes=10_000)
    assert [(p.kind, p.digest) for p in parts] == [("file", True)]
