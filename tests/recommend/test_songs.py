"""The compact song table: every lookup agrees with the same lookup done in pandas on the seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.normalise import normalise_names
from songscope.recommend.songs import SongTable


@pytest.fixture(scope="module")
def table(catalogue):
    # In uneven batches, as the lake's files come: the codes must not depend on the batching.
    bounds = [0, 1, 4_000, 4_001, 11_000, len(catalogue)]
    parts = [pa.Table.from_pandas(catalogue.iloc[a:b][["track_id", "artist_name", "track_name", "popularity"]], preserve_index=False)
             for a, b in zip(bounds, bounds[1:])]
    return SongTable.from_batches(parts)


def test_ids_are_found_by_binary_search(table, catalogue):
    ids = catalogue["track_id"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(ids), 500, replace=False).tolist() + [0, len(ids) - 1]:
        assert table.row_of_id(ids[row]) == row
    assert table.row_of_id("not-an-id") is None
    assert table.rows_of_ids([ids[5], "nope", ids[7]]).tolist() == [5, -1, 7]
    assert table.ids([3, 1]) == [ids[3], ids[1]]


def test_names_match_pandas(table, catalogue):
    labels = (catalogue["artist_name"] + " - " + catalogue["track_name"]).to_numpy()
    lower = pd.Series(labels).str.lower()
    groups = pd.Series(np.arange(len(lower))).groupby(lower.to_numpy()).apply(list)
    shared = [key for key, rows in groups.items() if len(rows) > 1][:50]
    assert shared, "the seed has songs under one name in several versions"
    for key in shared + list(groups.index[:200]):
        assert table.rows_named(key).tolist() == groups[key]
        if key.upper().lower() == key:  # not so for ß (SS) and a few more
            assert table.rows_named(key.upper()).tolist() == groups[key], key
    assert table.label(10) == labels[10]
    assert table.labels([2, 0]) == [labels[2], labels[0]]
    for words in (["love"], ["the", "night"], ["é"], ["zzzq"]):
        expected = np.flatnonzero(np.logical_and.reduce([lower.str.contains(w, regex=False).to_numpy() for w in words]))
        assert table.rows_containing(words).tolist() == expected.tolist()


def test_search_is_the_most_popular_rows_containing_the_words(table, catalogue):
    popularity = np.nan_to_num(table.popularity, nan=-1.0)
    for words in (["love"], ["the", "night"], ["Night", "THE"], ["é"], ["zzzq"], ["e"], ["-"], ["a - b"], ["love", "love"]):
        rows = table.rows_containing(words)
        expected = rows[np.argsort(-popularity[rows], kind="stable")]
        for limit in (1, 20, 10_000):
            assert table.search(words, limit).tolist() == expected[:limit].tolist(), (words, limit)
    assert table.search([], 3).tolist() == np.argsort(-popularity, kind="stable")[:3].tolist()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet="ab -é\x00", min_size=1, max_size=5), min_size=1, max_size=30),
       st.lists(st.text(alphabet="ab -é\x00", min_size=1, max_size=3), min_size=1, max_size=3), st.integers(1, 5))
def test_search_agrees_with_a_scan_of_every_name(titles, words, limit):
    """Hits never span two names, repeated hits in one name count once, whatever the text."""
    frame = pd.DataFrame({"track_id": [str(i) for i in range(len(titles))], "artist_name": "a", "track_name": titles,
                          "popularity": [i % 3 for i in range(len(titles))]})
    table = SongTable.from_frame(frame)
    rows = table.rows_containing(words)
    expected = rows[np.argsort(-table.popularity[rows], kind="stable")][:limit]
    assert table.search(words, limit).tolist() == expected.tolist()


def test_codes_are_the_normalised_artists_and_versions(table, catalogue):
    artist = pd.Series(normalise_names(pa.array(catalogue["artist_name"])).to_pylist())
    title = pd.Series(normalise_names(pa.array(catalogue["track_name"])).to_pylist())
    assert (table.artist == pd.factorize(artist)[0]).all()
    assert (table.version == pd.factorize(artist + "\x1f" + title)[0]).all()
    popularity = catalogue["popularity"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(table.popularity, popularity.astype(np.float32))


def test_bytes_per_song_are_counted(table):
    # Arrow buffers and vectors only: a few hundred bytes a song at most for seed-length names.
    per_song = table.nbytes / len(table)
    assert 40 < per_song < 200, per_song


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=40))
def test_any_ids_are_found(ids):
    """Byte order of UTF-8 (Arrow's sort) is Python's order of strings, so binary search finds
    every id, whatever its script."""
    frame = pd.DataFrame({"track_id": ids, "artist_name": "a", "track_name": "t", "popularity": 1})
    table = SongTable.from_frame(frame)
    for track_id in ids:
        found = table.row_of_id(track_id)
        assert found is not None and ids[found] == track_id
