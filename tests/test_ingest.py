"""Ingest of the real data sets, of every source kind (file, folder, glob, Parquet, s3://)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import schema
from songscope.ingest import read_sources
from songscope.store.lake import Lake
from tests.conftest import LIKED, TIDYTUESDAY, benchmark_file


def test_seed_csvs_read_in_order_with_source_and_line(seed_files):
    result = read_sources(seed_files)
    assert result.rows_read == 20_301
    assert len(result.rejected) == 0
    assert [s.rows_read for s in result.sources] == [9_320, 9_239, 1_742]
    assert list(result.frame.columns[: len(schema.CANONICAL_COLUMNS)]) == list(schema.CANONICAL_COLUMNS)
    first = result.frame.iloc[0]
    assert (first["artist_name"], first["track_name"], first["line"]) == ("Post Malone", "Circles", 2)
    assert first["source"].endswith("world_data.csv")
    assert result.frame["source"].iloc[-1].endswith("tutorial_data.csv")
    # Checksums are of the bytes read, so a source is identified by its content.
    assert result.sources[0].sha256 == hashlib.sha256(open(seed_files[0], "rb").read()).hexdigest()


def test_non_ascii_names_round_trip(seed_files):
    frame = read_sources(seed_files).frame
    assert "Dadá Boladão" in set(frame["artist_name"])
    assert "Frédéric Chopin" in set(frame["artist_name"])


def test_tidytuesday_layout_maps_aliases_and_keeps_labels():
    result = read_sources([str(benchmark_file(TIDYTUESDAY))])
    assert result.rows_read == 32_833
    # The 5 rows with NA artist and title are rejected, with their reason, not dropped.
    assert len(result.rejected) == 5
    assert result.rejected["reason"].str.contains("missing artist_name").all()
    frame = result.frame
    assert frame["time_signature"].isna().all()  # the layout has no time_signature
    assert {"playlist_genre", "playlist_subgenre", "playlist_id", "playlist_name"} <= set(frame.columns)
    assert frame["playlist_genre"].value_counts().to_dict()["edm"] == 6_043
    assert frame["popularity"].notna().all()


def test_liked_set_without_track_id_gets_stable_derived_ids():
    path = str(benchmark_file(LIKED))
    first = read_sources([path]).frame
    again = read_sources([path]).frame
    assert first["track_id"].str.startswith("ss").all()
    assert list(first["track_id"]) == list(again["track_id"])
    assert (first["time_signature"] == 4).sum() > 1_800  # written as 4.0 in the file
    assert set(first["target"]) == {"0", "1"}


def test_folder_glob_and_parquet_sources(tmp_path, seed_files):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.read_csv(seed_files[2], index_col=0).to_parquet(folder / "tutorial.parquet")
    (folder / "notes.md").write_text("not a table")
    by_folder = read_sources([str(folder)])
    assert by_folder.sources[0].format == "parquet"
    assert len(by_folder.frame) == 1_742
    assert list(by_folder.frame["line"][:3]) == [1, 2, 3]
    by_glob = read_sources([str(folder / "*.parquet"), seed_files[2]])
    assert len(by_glob.frame) == 2 * 1_742
    csv_frame = read_sources([seed_files[2]]).frame
    cols = list(schema.CANONICAL_COLUMNS)
    pd.testing.assert_frame_equal(by_folder.frame[cols], csv_frame[cols])


@pytest.mark.s3
def test_s3_sources_csv_and_parquet(s3_server, s3_lake_url, seed_files):
    lake = Lake(s3_lake_url, s3_server.endpoint)
    lake.write_bytes("incoming/world.csv", open(seed_files[0], "rb").read())
    lake.write_bytes("incoming/tutorial.csv", open(seed_files[2], "rb").read())
    result = read_sources([f"{s3_lake_url}/incoming/*.csv"], s3_endpoint=s3_server.endpoint)
    assert [s.uri.rsplit("/", 1)[1] for s in result.sources] == ["tutorial.csv", "world.csv"]
    assert result.rows_read == 1_742 + 9_320


# ------------------------------------------------------------------- a big CSV read in byte ranges


def _read_in_parts(path, part_bytes: int, **options):
    """What the Spark backend does with a big CSV, here in one process: scan ranges, cut, read parts."""
    from songscope.ingest import csv_parts, file_size, read_csv_part, scan_csv_range

    size = file_size(str(path))
    scans = [scan_csv_range(str(path), a, min(a + part_bytes, size)) for a in range(0, size, part_bytes)]
    parts = csv_parts(scans)
    assert parts[0][0] == 0 and parts[-1][1] == size and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    read = [read_csv_part(str(path), a, b, before, **options) for a, b, before in parts]
    frame = pd.concat([r[0] for r in read], ignore_index=True)
    rejected = pd.concat([r[1] for r in read], ignore_index=True)
    return frame, rejected, parts


def _awkward_csv(path, rows: list[str], *, bom: bool = False, crlf: bool = False) -> None:
    text = "\n".join([HEADER_LINE, *rows]) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


HEADER_LINE = (
    "artist_name,track_name,track_id,popularity,danceability,energy,key,loudness,mode,speechiness,"
    "acousticness,instrumentalness,liveness,valence,tempo,duration_ms,time_signature"
)


def _awkward_rows(n: int) -> list[str]:
    """Rows with quoted line breaks, doubled quotes, commas in quotes, blank lines, wrong field
    counts and bad values, in every script."""
    from tests.test_bad_inputs import row

    rows = []
    for i in range(n):
        kind = i % 9
        tid = f"t{i:021d}"
        if kind == 0:
            rows.append(row(tid, '"Artist, with comma"', '"Title ""quoted"" here"'))
        elif kind == 1:
            rows.append(row(tid, '"Multi\nline artist"', '"and a\n\ntitle over lines"'))
        elif kind == 2:
            rows.append("")  # a blank line
            rows.append(row(tid, "Ådne", "Ünïcödé 日本語"))
        elif kind == 3:
            rows.append(row(tid) + ",extra")  # one field too many
        elif kind == 4:
            rows.append(row(tid, energy=7.5))  # out of range
        elif kind == 5:
            rows.append(row(tid, '"odd """', '"quote"" count\n"'))
        else:
            rows.append(row(tid, f"Artist {i}", f"Title {i}"))
    return rows


@pytest.mark.parametrize("part_bytes", [700, 1_333, 4_096])
@pytest.mark.parametrize("bom,crlf", [(False, False), (True, True)])
def test_a_csv_read_in_byte_ranges_gives_what_reading_it_whole_gives(tmp_path, part_bytes, bom, crlf):
    from songscope.ingest import read_one

    path = tmp_path / "big.csv"
    _awkward_csv(path, _awkward_rows(300), bom=bom, crlf=crlf)
    whole, whole_rejected, summary = read_one(str(path))
    frame, rejected, parts = _read_in_parts(path, part_bytes)
    assert len(parts) > 5  # really cut, and the cuts fell between records
    pd.testing.assert_frame_equal(frame, whole)
    pd.testing.assert_frame_equal(rejected.sort_values("line", kind="stable", ignore_index=True), whole_rejected)
    assert summary.rows_read == len(frame) + len(rejected)
    assert set(whole_rejected["reason"].str.contains("fields").unique()) == {True, False}  # both kinds of rejection are in


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet='ab ,"\n\r', max_size=8), st.integers(0, 2)), min_size=1, max_size=40), st.integers(16, 400))
def test_any_quoting_is_cut_between_records(tmp_path_factory, cells, part_bytes):
    """Whatever the quoting (line breaks, carriage returns, doubled quotes and commas inside
    quoted values), the parts hold exactly the records of the whole file."""
    from songscope.ingest import IngestError, read_one
    from tests.test_bad_inputs import row

    lines = []
    for i, (text, style) in enumerate(cells):
        value = '"' + text.replace('"', '""') + '"' if style else text.replace('"', "").replace("\n", " ").replace("\r", " ").replace(",", " ")
        lines.append(row(f"t{i:021d}", value or "x", f"Title {i}"))
    path = tmp_path_factory.mktemp("cut") / "songs.csv"
    _awkward_csv(path, lines)
    try:
        whole, whole_rejected, _ = read_one(str(path))
    except IngestError:
        return  # nothing to compare: the file is not readable whole either
    frame, rejected, _ = _read_in_parts(path, part_bytes)
    pd.testing.assert_frame_equal(frame, whole)
    pd.testing.assert_frame_equal(rejected.sort_values("line", kind="stable", ignore_index=True), whole_rejected)


def test_a_utf16_file_is_never_cut_in_byte_ranges(tmp_path):
    from songscope.ingest import csv_splittable
    from tests.test_bad_inputs import GOOD, text

    plain, wide = tmp_path / "plain.csv", tmp_path / "wide.csv"
    plain.write_bytes(text(*GOOD))
    wide.write_bytes(text(*GOOD).decode().encode("utf-16"))  # with its byte order mark
    assert csv_splittable(str(plain), "utf-8") and not csv_splittable(str(wide), "utf-8")
    assert not csv_splittable(str(plain) + ".gz", "utf-8") and not csv_splittable(str(plain), "utf-16")


def test_a_spotify_exporters_playlist_is_ingested_with_its_audio_features(tmp_path):
    """Exportify's layout ("Track URI", "Artist Name(s)", "Track Duration (ms)", ...): the songs
    land with their features, the other columns as labels; a local file (no URI) is rejected
    with its reason."""
    from tests.recommend.test_playlists import EXPORTIFY

    path = tmp_path / "exportify.csv"
    path.write_text(EXPORTIFY)
    result = read_sources([str(path)])
    valid, rejected = result.frame, result.rejected
    assert valid["track_id"].tolist() == ["4u7EnebtmKWzUH433cf5Qv"]
    row = valid.iloc[0]
    assert (row["artist_name"], row["track_name"], int(row["duration_ms"]), float(row["tempo"])) == ("Queen", "Bohemian Rhapsody", 354_320, 143.883)
    assert row["artist_genres"] == "classic rock,rock" and row["explicit"] == "false"
    assert len(rejected) == 1 and "missing track_id" in rejected["reason"].iloc[0]
