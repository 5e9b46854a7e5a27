"""A track id listed many times (the 26-genre dump lists a song once per genre, each time with a
slightly different popularity): any number of repeats, with any mix of conflicting values and
labels, ingests, keeps every label, and accounts for every dropped row in the stores' records."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.store import catalogue as stored_catalogue
from songscope.store.store import Store
from tests.conftest import ingest, load_catalogue

GENRES = ("Pop", "Dance", "Alternative", "Rock", "Movie")
HEADER = ["genre", "artist_name", "track_name", "track_id", "popularity", "acousticness", "danceability", "duration_ms", "energy",
          "instrumentalness", "key", "liveness", "loudness", "mode", "speechiness", "tempo", "time_signature", "valence"]


@st.composite
def repeated_songs(draw) -> list[dict]:
    """Rows of 1 to 4 songs, each listed 1 to 20 times: each row a genre (or none), a popularity
    and an energy from small pools, so rows repeat exactly, conflict, or both."""
    rows = []
    for song in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 20))):
            rows.append({
                "genre": draw(st.sampled_from(GENRES + ("",))), "artist_name": f"Artist {song}", "track_name": f"Song {song}",
                "track_id": f"id{song:020d}", "popularity": draw(st.integers(40, 43)), "acousticness": 0.5, "danceability": 0.5,
                "duration_ms": 200_000 + song, "energy": draw(st.sampled_from([0.5, 0.6])), "instrumentalness": 0, "key": "C#",
                "liveness": 0.1, "loudness": -6.0, "mode": "Major", "speechiness": 0.05, "tempo": 120.0, "time_signature": "4/4", "valence": 0.5,
            })
    return rows


def write_rows(folder: Path, rows: list[dict]) -> str:
    path = folder / "SpotifyFeatures.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def check_every_row_is_accounted_for(rows: list[dict], outcome, stores) -> None:
    """One track per id, with every genre its rows had; each id's rows are its track, its exact
    repeats (counted by the report) and the rows its merge record counts; every row's line is
    in the provenance."""
    frame = pd.DataFrame(rows)
    catalogue = load_catalogue(stores).set_index("track_id")
    assert sorted(catalogue.index) == sorted(frame["track_id"].unique())
    for track_id, group in frame.groupby("track_id"):
        genres = {g for g in group["genre"] if g}
        stored = catalogue.loc[track_id, "genre"] if "genre" in catalogue else None
        assert {g for g in (stored.split("|") if isinstance(stored, str) else []) if g} == genres, track_id
        assert int(catalogue.loc[track_id, "popularity"]) == group["popularity"].max()
    engine = sa.create_engine(stores.db_url)
    with engine.connect() as conn:
        merges = pd.read_sql("SELECT rule, kept_track_id, dropped_track_id, detail, dropped_rows FROM track_duplicates", conn)
    engine.dispose()
    with Store(stores) as store:
        provenance = stored_catalogue.read_provenance(store)
    variants = frame.drop(columns="genre").drop_duplicates().groupby("track_id").size()  # rows that differ in a song's values
    expected = {track_id: n - 1 for track_id, n in variants.items() if n > 1}
    assert (merges["kept_track_id"] == merges["dropped_track_id"]).all()
    assert dict(zip(merges["kept_track_id"], merges["dropped_rows"])) == expected
    assert not merges["detail"].str.contains("genre").any()
    exact = outcome.report.steps[0].removed
    assert len(catalogue) + exact + int(merges["dropped_rows"].sum()) == len(rows) == outcome.rows_read
    assert sorted(provenance["line"]) == list(range(2, len(rows) + 2))
    assert (provenance.set_index("line")["track_id"].sort_index().to_numpy() == frame["track_id"].to_numpy()).all()


@settings(max_examples=25, deadline=None)
@given(repeated_songs())
def test_any_number_of_repeats_ingests_keeping_every_label(tmp_path_factory, rows):
    from songscope.config import Settings

    folder = tmp_path_factory.mktemp("repeats")
    stores = Settings(db_url=f"sqlite:///{folder / 'songscope.db'}", lake_url=str(folder / "lake"))
    outcome = ingest([write_rows(folder, rows)], stores)
    check_every_row_is_accounted_for(rows, outcome, stores)
    again = ingest([write_rows(folder, rows)], stores)  # the same file again adds nothing
    assert again.record.tracks_added == 0
    check_every_row_is_accounted_for(rows, outcome, stores)
