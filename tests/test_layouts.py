"""The public layouts songscope reads (the README's table of known layouts), each from a fixture of
its published header (tests/data/layouts/SOURCE.md) or the shipped data: every well-formed row
lands, with what the layout says about artists, labels and dates; a bad row is rejected with its
reason, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from songscope.artists import SEPARATOR
from songscope.clean import read_and_clean

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = Path(__file__).with_name("data") / "layouts"


def _read(name: str):
    return read_and_clean([str(LAYOUTS / name)])


def _artists(tracks: pd.DataFrame, track_id: str) -> list[str]:
    return tracks.set_index("track_id").loc[track_id, "artists"].split(SEPARATOR)


def test_spotify_tracks_db_lists_a_song_once_per_genre_and_keeps_every_genre():
    """SpotifyFeatures.csv (26 genres): one row per (song, genre) with a drifting popularity. A
    song in three genres is one track with all three, one merge record counting its two dropped
    rows, and no label named as a conflict; note names, Major/Minor and 04-Apr are read."""
    read, cleaned = _read("spotify_tracks_db_26_genres.csv")
    tracks = cleaned.tracks.set_index("track_id")
    assert read.rows_read == 12 and len(read.rejected) == 1 and "key: not a number: 'H'" in read.rejected["reason"].iloc[0]
    assert len(tracks) == 8
    assert tracks.loc["0d28khcov6AiegSCpG5TuT", "genre"] == "Alternative|Dance|Electronic"
    assert int(tracks.loc["0d28khcov6AiegSCpG5TuT", "popularity"]) == 77  # the highest reading
    assert tracks.loc["6ocbgoVGwYskVH7qt6VCEj", "genre"] == "Pop|Dance"  # exact repeats: labels merged too
    record = cleaned.duplicates.set_index("kept_track_id").loc["0d28khcov6AiegSCpG5TuT"]
    assert record["dropped_rows"] == 2 and "genre" not in record["detail"]
    assert record["detail"] == "popularity: kept 77, dropped 76 | popularity: kept 77, dropped 75"
    assert (tracks.loc["0BRjO6ga9RKCKjfDqeFgWV", ["key", "mode", "time_signature"]].tolist()) == [1, 1, 4]


def test_1921_2020_tracks_read_list_literals_ids_and_year_only_dates():
    read, cleaned = _read("spotify_1921_2020_tracks.csv")
    tracks = cleaned.tracks
    assert tracks.set_index("track_id").loc["35iwgR4jXetI318WEWsa1Q", "artist_name"] == "Uli"
    assert _artists(tracks, "0Ol3FuXMkGzOTNyt5fHVPv") == ["Dick Haymes", "Bing Crosby"]
    assert tracks.set_index("track_id").loc["0Ol3FuXMkGzOTNyt5fHVPv", "artist_ids"].split(SEPARATOR) == ["0TDNBmHmvMi2uQHVDtmRsM", "6ZjFtWeHP9XN7FeKSUe80S"]
    assert _artists(tracks, "4fCmRshT5b1Ve9IYqfq5L3") == ["Guns N' Roses"]
    # A year alone is a release date like any other (kept as written); explicit as 0/1.
    dates = tracks.set_index("track_id")["release_date"]
    assert dates["021ht4sdgPcrDgSk7JTbKY"] == "1922" and dates["35iwgR4jXetI318WEWsa1Q"] == "1922-02-22"
    assert tracks.set_index("track_id").loc["4fCmRshT5b1Ve9IYqfq5L3", "explicit"] == "1"
    # A list literal that cannot be read keeps its row, whole, with a note; an empty list is no artist.
    assert tracks.set_index("track_id").loc["5brokenlist00000000000", "artist_name"] == "['Unclosed"
    notes = read.sources[0].notes
    assert notes["artist_name: a list literal that cannot be read, kept whole as one artist"]["count"] == 1
    assert read.rejected["reason"].tolist() == ["artist_name: names no artist (an empty list)"]
    assert read.rows_read == 7 and len(tracks) == 6


def test_1921_2020_data_reads_its_list_literals_in_any_column_order():
    read, cleaned = _read("spotify_1921_2020_data.csv")
    assert len(read.rejected) == 0 and len(cleaned.tracks) == 4
    assert _artists(cleaned.tracks, "4BJqT0PrAfrxzMOxytFOIz") == ["Sergei Rachmaninoff", "James Levine", "Berliner Philharmoniker"]
    assert set(cleaned.tracks["year"]) == {"1921"}


def test_tracks_features_keeps_albums_numbers_and_ids_where_they_match():
    read, cleaned = _read("tracks_features_1_2m.csv")
    tracks = cleaned.tracks.set_index("track_id")
    assert len(read.rejected) == 0 and len(tracks) == 4
    testify = tracks.loc["7lmeHLHBe4nmXzuXc0HDjk"]
    assert (testify["artist_name"], testify["album_id"], testify["track_number"], testify["disc_number"], testify["explicit"]) == (
        "Rage Against The Machine", "2eia0myWFgoHuttJytCxgX", "1", "1", "False")
    assert tracks.loc["3idsmismatch0000000000", "artists"].split(SEPARATOR) == ["A", "B", "C"]
    assert pd.isna(tracks.loc["3idsmismatch0000000000", "artist_ids"])  # two ids for three artists: left out, noted
    assert read.sources[0].notes["artist_ids: not one id per artist, left out (the row kept)"]["count"] == 1


def test_the_114_genre_set_splits_artists_on_semicolons_and_merges_its_genres():
    read, cleaned = _read("hf_spotify_tracks_114_genres.csv")
    tracks = cleaned.tracks.set_index("track_id")
    assert len(read.rejected) == 0 and len(tracks) == 5
    assert tracks.loc["1iJBSr7s7jYXzM8EGcbK5b", "artists"].split(SEPARATOR) == ["Ingrid Michaelson", "ZAYN"]
    assert tracks.loc["1iJBSr7s7jYXzM8EGcbK5b", "track_genre"] == "acoustic|pop"
    assert tracks.loc["2ZAYNsolo0000000000000", "explicit"] == "True"


def test_a_semicolon_splits_artists_only_in_the_layout_that_uses_it(tmp_path):
    path = tmp_path / "songs.csv"
    text = (LAYOUTS / "hf_spotify_tracks_114_genres.csv").read_text().replace("track_genre", "playlist_genre")
    path.write_text(text)
    _, cleaned = read_and_clean([str(path)])
    assert cleaned.tracks.set_index("track_id").loc["1iJBSr7s7jYXzM8EGcbK5b", "artists"] == "Ingrid Michaelson;ZAYN"


def test_exportify_splits_its_commas_only_where_the_artists_uris_agree():
    read, cleaned = _read("exportify.csv")
    tracks = cleaned.tracks.set_index("track_id")
    assert tracks.loc["2Foc5Q5nqNiosCNqttzHof", "artists"].split(SEPARATOR) == ["Daft Punk", "Pharrell Williams"]
    assert tracks.loc["2Foc5Q5nqNiosCNqttzHof", "artist_ids"].split(SEPARATOR) == ["4tZwfgrHOc3mvqYlEYSvVi", "2RdwBSPQiwcmiDo9kixcl8"]
    assert tracks.loc["4u7EnebtmKWzUH433cf5Qv", "artists"] == "Queen"


def test_exportify_keeps_a_name_with_a_comma_whole(tmp_path):
    path = tmp_path / "tyler.csv"
    text = (LAYOUTS / "exportify.csv").read_text()
    path.write_text(text.replace('"Daft Punk, Pharrell Williams"', '"Tyler, The Creator"')
                    .replace('"spotify:artist:4tZwfgrHOc3mvqYlEYSvVi,spotify:artist:2RdwBSPQiwcmiDo9kixcl8"', "spotify:artist:4V8LLVI7PbaPR0K2TGSxFF"))
    _, cleaned = read_and_clean([str(path)])
    assert cleaned.tracks.set_index("track_id").loc["2Foc5Q5nqNiosCNqttzHof", "artists"] == "Tyler, The Creator"


@pytest.mark.parametrize(("files", "rows", "tracks"), [
    (["data/seed/world_data.csv", "data/seed/brazil_data.csv", "data/seed/tutorial_data.csv"], 20_301, 15_626),
    (["data/benchmark/tidytuesday_2020-01-21/spotify_songs.csv"], 32_833, 27_316),
    (["data/benchmark/spotify_song_attributes_liked/data.csv"], 2_017, 1_999),
])
def test_the_shipped_layouts_keep_one_artist_a_song(files, rows, tracks):
    """The seed CSVs, TidyTuesday and the liked set name one artist a song: nothing is split."""
    read, cleaned = read_and_clean([str(ROOT / f) for f in files])
    assert read.rows_read == rows and len(cleaned.tracks) == tracks
    assert (cleaned.tracks["artists"] == cleaned.tracks["artist_name"]).all()
