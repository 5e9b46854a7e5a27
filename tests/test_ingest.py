"""Ingest of the real data sets, of every source kind (file, folder, glob, Parquet, s3://)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

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
