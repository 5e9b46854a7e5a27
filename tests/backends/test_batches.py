"""Ingest in batches: any cut of the input into parts and batches, in memory or on disk, cleans to
what one pass over the whole input gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from songscope import schema
from songscope.backends.batches import Batches, read_and_clean_in_batches
from songscope.backends.part_keys import PartKeys, shared_keys
from songscope.clean import clean, decide, materialise, provenance_of
from songscope.ingest import read_sources
from songscope.row_keys import as_batch, row_keys
from tests.conftest import TIDYTUESDAY, benchmark_file


@pytest.fixture(scope="module")
def crowded(seed_files) -> pd.DataFrame:
    """Rows rich in every kind of duplicate: TidyTuesday's (a song on many playlists, near and
    loose duplicates), with playlist labels to merge, then the seed's ids with conflicting rows
    (which have no labels)."""
    frames = []
    for frame, counts in ((read_sources([str(benchmark_file(TIDYTUESDAY))]).frame, (700, 400, 200)), (read_sources(seed_files).frame, (300, 100, 0))):
        repeated = frame["track_id"].duplicated(keep=False)
        same_name = frame["track_name"].duplicated(keep=False)
        frames.append(frame.iloc[np.sort(np.concatenate([np.flatnonzero(repeated)[:counts[0]], np.flatnonzero(same_name & ~repeated)[:counts[1]],
                                                         np.flatnonzero(~repeated & ~same_name)[:counts[2]]]))])
    return pd.concat(frames, ignore_index=True)


def _in_batches(frame: pd.DataFrame, cuts: list[int], batch_rows: int, hold_rows: int, loose: bool, spill_rows: int | None = None,
                bucket_rows: int = 1 << 20):
    work = as_batch(frame)
    bounds = [0, *sorted(cuts), len(work)]
    batches = Batches(batch_rows, hold_rows, batch_rows if spill_rows is None else spill_rows)
    keys = PartKeys(hold_rows)
    for start, stop in zip(bounds, bounds[1:]):
        part = work.iloc[start:stop].reset_index(drop=True)
        keys.add(row_keys(part))
        batches.add(part)
    batches.finish()
    try:
        shared = shared_keys(keys, bucket_rows)
        decisions = decide(shared.keys, batches.columns, batches.fetch, loose=loose, rows_of_keys=shared.rows, others=shared.others)
        bounds_of = [(batches.starts[n], batches.starts[n] + len(batches.batch(n))) for n in range(len(batches))]
        chunks = [materialise(batches.batch(n), first, *keys.between(first, stop, "outliers", "near_keys"), decisions)
                  for n, (first, stop) in enumerate(bounds_of)]
        spilled = batches.folder is not None and keys.spilling
        provenance = pd.concat([provenance_of(first, work[schema.SOURCE_COLUMN].to_numpy()[first:stop], keys.keys(number), decisions)
                                for number, (first, stop) in enumerate(zip(bounds, bounds[1:]))], ignore_index=True)
    finally:
        batches.close()
        keys.close()
    tracks = pd.concat([t for t, _ in chunks], ignore_index=True)
    near = np.concatenate([k for _, k in chunks])
    return tracks, near, provenance, decisions, spilled


def _same_tracks(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got.astype(object).where(got.notna(), None), expected.astype(object).where(expected.notna(), None))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), loose=st.booleans())
def test_any_cut_into_batches_cleans_as_one_pass(crowded, data, loose):
    n = len(crowded)
    cuts = data.draw(st.lists(st.integers(0, n), max_size=5), label="cuts")
    batch_rows = data.draw(st.integers(1, n + 1), label="batch_rows")
    hold_rows = data.draw(st.sampled_from([0, batch_rows, n + 1]), label="hold_rows")
    spill_rows = data.draw(st.integers(1, n + 1), label="spill_rows")
    bucket_rows = data.draw(st.sampled_from([1, 7, 100, n + 1]), label="bucket_rows")  # one bucket, or up to 2 ** 11
    expected = clean(crowded, loose=loose)
    tracks, near, provenance, decisions, _ = _in_batches(crowded, cuts, batch_rows, hold_rows, loose, spill_rows, bucket_rows)
    _same_tracks(tracks, expected.tracks)
    assert np.array_equal(near, expected.near_keys)
    pd.testing.assert_frame_equal(provenance, expected.provenance)
    pd.testing.assert_frame_equal(decisions.duplicates, expected.duplicates)
    pd.testing.assert_frame_equal(decisions.loose_candidates, expected.loose_candidates)
    assert decisions.report.to_dict() == expected.report.to_dict()


def test_the_crowded_sample_has_every_kind_of_duplicate(crowded):
    """The property above is only as strong as its data: every rule must fire, labels must merge."""
    report = clean(crowded).report
    removed = {step.name: step.removed for step in report.steps}
    assert removed["exact duplicates"] > 0 and removed["same track_id"] > 0
    assert removed["same artist, track name and duration"] > 0
    assert report.loose_candidates > 0 and report.id_conflicts > 0
    assert clean(crowded).tracks["playlist_id"].str.contains("|", regex=False).any()


def test_batches_spill_to_disk_beyond_what_they_hold_and_remove_it(crowded):
    tracks, _, _, _, spilled = _in_batches(crowded, [100, 900], batch_rows=300, hold_rows=300, loose=False)
    assert spilled
    _same_tracks(tracks, clean(crowded).tracks)
    batches = Batches(batch_rows=10, hold_rows=10, spill_rows=10)
    for start in range(0, 40, 10):
        batches.add(as_batch(crowded.iloc[start:start + 10].reset_index(drop=True)))
    batches.finish()
    folder = batches.folder
    assert folder is not None and len(list(folder.iterdir())) == 4
    pd.testing.assert_frame_equal(batches.fetch(np.array([35, 2, 17])).reset_index(drop=True),
                                  crowded.iloc[[35, 2, 17]].reset_index(drop=True))
    named = batches.fetch(np.array([35, 2, 17]), ["track_name", "track_id", "not_read"])  # only these, in this order
    pd.testing.assert_frame_equal(named[["track_name", "track_id"]].reset_index(drop=True),
                                  crowded.iloc[[35, 2, 17]][["track_name", "track_id"]].reset_index(drop=True))
    assert list(named.columns) == ["track_name", "track_id", "not_read"] and named["not_read"].isna().all()
    assert list(named.index) == [35, 2, 17]
    batches.close()
    assert not folder.exists()


def test_once_batches_spill_each_part_goes_to_disk_as_it_was_read(crowded):
    """Parts held while they fit, then more than fit: each part waiting and each later one is a
    batch on disk of its own, not joined to others first; parts smaller than a batch on disk are."""
    sizes = [10, 10, 10, 10, 3, 3, 3]
    batches = Batches(batch_rows=25, hold_rows=25, spill_rows=5)
    start = 0
    for size in sizes:
        batches.add(as_batch(crowded.iloc[start:start + size].reset_index(drop=True)))
        start += size
    batches.finish()
    try:
        assert batches.spilling and all(held is None for held in batches._held)
        assert [len(batches.batch(n)) for n in range(len(batches))] == [10, 10, 10, 10, 6, 3]
        assert batches.starts == [0, 10, 20, 30, 40, 46]
        pd.testing.assert_frame_equal(batches.fetch(np.arange(start)).reset_index(drop=True), crowded.iloc[:start].reset_index(drop=True))
    finally:
        batches.close()


def _whole(urls, **options):
    read = read_sources(urls)
    return read, clean(read.frame, **options)


@pytest.mark.parametrize("layout", ["csv", "parquet", "seed"])
def test_sources_read_in_parts_clean_as_read_whole(tmp_path, crowded, seed_files, layout):
    """Files cut into parts (a CSV between records, a Parquet file by row groups), read on two
    threads and held on disk, give the rows, rejected rows, summaries and tracks of reading whole."""
    if layout == "seed":
        urls = seed_files
    else:
        raw = pd.read_csv(benchmark_file(TIDYTUESDAY), dtype=str, keep_default_na=False).iloc[:3000]
        raw.loc[5, "danceability"] = "loud"  # a rejected row in the first part, and one in a later one
        raw.loc[2400, "tempo"] = "-3"
        raw.loc[7, "track_name"] = "a title\nwith a line break, quoted"
        path = tmp_path / f"songs.{layout}"
        if layout == "csv":
            raw.to_csv(path, index=False)
        else:
            pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), path, row_group_size=400)
        urls = [str(path)]
    read, expected = _whole(urls)
    data, _ = read_and_clean_in_batches(urls, encoding="utf-8", delimiter=",", s3_endpoint=None, required=schema.REQUIRED_COLUMNS,
                                        outlier_rules=schema.SEED_OUTLIER_RULES, loose=False, batch_rows=700, hold_rows=700, spill_rows=200, workers=2,
                                        csv_part_bytes=100_000, parquet_part_rows=900)
    try:
        assert data.batches.folder is not None and len(data.batches) > 1 and len(data.spans) > len(urls)
        tracks = pd.concat([t for t, _ in data.track_chunks()], ignore_index=True)
        provenance = pd.concat(list(data.provenance_chunks()), ignore_index=True)
    finally:
        data.release()
    _same_tracks(tracks, expected.tracks)
    pd.testing.assert_frame_equal(provenance, expected.provenance)
    pd.testing.assert_frame_equal(data.read.rejected, read.rejected)
    assert data.read_summary() == read.summary()
    assert data.clean_report() == expected.report.to_dict()
    assert data.batches.folder is None
    if layout != "seed":
        assert len(read.rejected) == 2


@pytest.mark.parametrize("crlf", [False, True])
def test_an_awkward_csv_read_in_parts_gives_what_reading_it_whole_gives(tmp_path, crlf):
    """Quoted line breaks, doubled quotes, blank lines, wrong field counts and bad values in
    every script, cut into parts of about 3,000 bytes: the same rows, rejects, lines and notes."""
    from tests.test_ingest import _awkward_csv, _awkward_rows

    path = tmp_path / "awkward.csv"
    _awkward_csv(path, _awkward_rows(400), crlf=crlf)
    read, expected = _whole([str(path)])
    data, _ = read_and_clean_in_batches([str(path)], encoding="utf-8", delimiter=",", s3_endpoint=None, required=schema.REQUIRED_COLUMNS,
                                        outlier_rules=schema.SEED_OUTLIER_RULES, loose=False, batch_rows=50, hold_rows=50, spill_rows=50,
                                        csv_part_bytes=3_000)
    try:
        assert len(data.spans) >= path.stat().st_size // 3_000 - 2 and len(data.batches) > 2
        tracks = pd.concat([t for t, _ in data.track_chunks()], ignore_index=True)
    finally:
        data.release()
    _same_tracks(tracks, expected.tracks)
    pd.testing.assert_frame_equal(data.read.rejected, read.rejected)
    assert data.read_summary() == read.summary() and len(read.rejected) > 40


def test_an_ingest_in_batches_on_disk_stores_what_one_batch_stores(db_url, tmp_path, settings_factory, monkeypatch):
    """Into each database, in spilled batches of 700 rows: the catalogue, provenance, labels and
    records of merges that one batch gives (into SQLite, the reference)."""
    from songscope import service
    from songscope.backends import batches
    from songscope.ingest import parts
    from songscope.store import catalogue, db
    from songscope.store.store import Store

    raw = pd.read_csv(benchmark_file(TIDYTUESDAY), dtype=str, keep_default_na=False).iloc[:4000]
    source = tmp_path / "songs.csv"
    raw.to_csv(source, index=False)

    def stored(url: str, lake: str):
        with Store(settings_factory(db_url=url, lake_url=str(tmp_path / lake))) as store:
            outcome = service.ingest(store, [str(source)], assign_new=False)
            files.append(len(catalogue.file_uris(store)))
            tables = [catalogue.read(store).sort_values("track_id", ignore_index=True),
                      catalogue.read_provenance(store).drop(columns=["source_id"]).sort_values(["source", "line"], ignore_index=True)]
            for table, key in ((db.track_duplicates, ["rule", "kept_track_id", "dropped_track_id"]), (db.track_labels, ["track_id", "name"])):
                rows = db.read_table(store.db, table)
                rows = rows[[c for c in rows.columns if not c.endswith("_id") or c.endswith("track_id")]]
                tables.append(rows.astype(str).sort_values(key, ignore_index=True))
            return outcome, tables

    files: list[int] = []
    reference, expected = stored(f"sqlite:///{tmp_path / 'reference.db'}", "reference-lake")
    monkeypatch.setattr(batches, "BATCH_ROWS", 700)
    monkeypatch.setattr(batches, "SPILL_ROWS", 200)  # a part a batch on disk
    monkeypatch.setattr(parts, "CSV_PART_BYTES", 100_000)  # parts of about 300 rows
    outcome, got = stored(db_url, "lake")
    assert files[0] == 1 and files[1] > 3  # one batch, then one catalogue file a batch
    assert outcome.report.to_dict() == reference.report.to_dict() and outcome.rows_rejected == reference.rows_rejected
    assert outcome.record.tracks_added == len(expected[0]) == reference.report.rows_out
    assert expected[0]["playlist_id"].str.contains("|", regex=False).any() and len(expected[2]) and len(expected[3])
    for mine, theirs in zip(got, expected):
        pd.testing.assert_frame_equal(mine, theirs)


def test_a_fault_in_a_later_part_is_named_and_leaves_no_batch_on_disk(tmp_path, monkeypatch):
    """Bytes that are not UTF-8 deep in a big file: the error names the file and the line, and the
    batches already spilled to disk are removed."""
    import tempfile

    from songscope.ingest import IngestError
    from tests.test_ingest import _awkward_csv, _awkward_rows

    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    path = tmp_path / "broken.csv"
    _awkward_csv(path, _awkward_rows(400))
    raw = path.read_bytes()
    cut = raw.rindex(b"\n", 0, len(raw) - 2_000)
    path.write_bytes(raw[:cut + 1] + b"\xff\xfe not text\n" + raw[cut + 1:])
    with pytest.raises(IngestError, match=r"broken\.csv.*line"):
        read_and_clean_in_batches([str(path)], encoding="utf-8", delimiter=",", s3_endpoint=None, required=schema.REQUIRED_COLUMNS,
                                  outlier_rules=schema.SEED_OUTLIER_RULES, loose=False, batch_rows=20, hold_rows=20, csv_part_bytes=3_000)
    assert list(spill.iterdir()) == []
