"""Cleaning: the seed's documented figures, the keep rule, label merging, loose rule, outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import schema
from songscope.clean import clean, decide, provenance_of
from songscope.errors import UserError
from songscope.ingest import read_sources
from songscope.row_keys import as_batch, row_keys
from tests.conftest import TIDYTUESDAY, benchmark_file


@pytest.fixture(scope="module")
def seed_clean(seed_files):
    return clean(read_sources(seed_files).frame)


def test_seed_figures(seed_clean):
    report = seed_clean.report
    assert [report.rows_in] + [s.rows_after for s in report.steps] == [20_301, 15_820, 15_779, 15_626]
    assert report.id_conflicts == 41
    assert report.outliers == 609
    assert len(seed_clean.tracks) == 15_626
    assert seed_clean.tracks["track_id"].is_unique
    assert seed_clean.tracks["is_outlier"].sum() == 609
    assert report.outlier_rules["duration_ms > 430000"] == 450


def test_conflicting_ids_keep_highest_popularity_and_are_recorded(seed_clean):
    conflicts = seed_clean.duplicates[seed_clean.duplicates["rule"].str.startswith("same track_id")]
    assert len(conflicts) == 41
    assert conflicts["detail"].str.startswith("popularity: kept").all()
    kept, dropped = conflicts["detail"].str.extract(r"kept (\d+), dropped (\d+)").astype(int).T.to_numpy()
    assert (kept > dropped).all()


def test_every_input_row_keeps_its_source(seed_clean):
    provenance = seed_clean.provenance
    assert len(provenance) == 20_301
    assert set(provenance["track_id"]) == set(seed_clean.tracks["track_id"])
    # A track in world and brazil lists both files.
    per_track = provenance.groupby("track_id")["source"].nunique()
    assert (per_track >= 2).sum() > 4_000


TRACKS = "abbc"


@pytest.mark.parametrize("lines", [[2, 3, 5, 9], [2, 3, 3, 9], [9, 5, 3, 2]], ids=["rising", "a line twice", "falling"])
def test_provenance_of_one_source_credits_each_row_read_once(lines):
    """A span of one source whose lines rise skips the search for repeated rows: it gives what the
    search gives, and a row read twice (its line repeated) is still credited once."""
    row = {c: 1 for c in schema.CANONICAL_COLUMNS} | {"artist_name": "x", "track_name": "y", "duration_ms": 100}
    frame = pd.DataFrame([row | {"track_id": track, "track_name": track, "source": "f", "line": line} for track, line in zip(TRACKS, lines)])
    work = as_batch(frame)
    keys = row_keys(work)
    decisions = decide(keys, list(work.columns), lambda rows, columns: work.iloc[rows][columns].set_axis(rows))
    one_source = provenance_of(0, "f", keys, decisions)
    each_row = provenance_of(0, work[schema.SOURCE_COLUMN].to_numpy(), keys, decisions)
    pd.testing.assert_frame_equal(one_source, each_row)
    expected = list(dict.fromkeys(zip(TRACKS, lines)))  # (track, line), each row once, in reading order
    assert list(zip(one_source["track_id"], one_source[schema.LINE_COLUMN])) == expected


def test_labels_of_merged_rows_are_all_kept():
    read = read_sources([str(benchmark_file(TIDYTUESDAY))])
    result = clean(read.frame)
    tracks = result.tracks.set_index("track_id")
    # A track in several playlists of different genres carries all of them.
    multi = tracks["playlist_genre"].str.contains("|", regex=False)
    assert multi.sum() > 1_000
    original = read.frame.groupby("track_id")["playlist_genre"].agg(lambda s: set(s))
    some = tracks.index[multi][:50]
    for track_id in some:
        assert original[track_id] <= set(tracks.at[track_id, "playlist_genre"].split("|"))


def test_loose_rule_is_reported_not_applied_unless_asked(seed_files):
    frame = read_sources(seed_files).frame
    default = clean(frame)
    assert default.report.loose_candidates > 0
    assert not default.report.loose_applied
    assert len(default.tracks) == 15_626
    applied = clean(frame, loose=True)
    assert applied.report.loose_applied
    assert len(applied.tracks) == 15_626 - default.report.loose_candidates
    assert set(applied.loose_candidates["candidate_track_id"]).isdisjoint(applied.tracks["track_id"])


def test_outlier_rules_are_configurable(seed_files):
    frame = read_sources(seed_files).frame
    result = clean(frame, outlier_rules=(schema.OutlierRule.parse("tempo < 1"),))
    assert result.report.outliers == result.report.outlier_rules["tempo < 1"] == 21
    assert (result.tracks.loc[result.tracks["is_outlier"], "outlier_rules"] == "tempo < 1").all()


def test_outlier_rule_parse_errors():
    with pytest.raises(UserError, match="COLUMN OP NUMBER"):
        schema.OutlierRule.parse("tempo is low")
    with pytest.raises(UserError, match="unknown column"):
        schema.OutlierRule.parse("bpm < 3")


def test_exact_duplicate_rows_merge_sources():
    row = {c: 1 for c in schema.CANONICAL_COLUMNS} | {"track_id": "a", "artist_name": "x", "track_name": "y", "duration_ms": 100}
    frame = pd.DataFrame([row | {"source": "f1", "line": 2}, row | {"source": "f2", "line": 9}])
    result = clean(frame)
    assert len(result.tracks) == 1
    assert sorted(result.provenance["source"]) == ["f1", "f2"]


def test_conflicts_with_missing_values_are_described():
    """Two rows of one id differing only in a label, with popularity missing (as in the liked set)."""
    base = {c: 1 for c in schema.CANONICAL_COLUMNS} | {"track_id": "a", "artist_name": "x", "track_name": "y", "popularity": pd.NA}
    frame = pd.DataFrame([base | {"target": "1", "source": "f", "line": 2}, base | {"energy": 0.5, "target": "0", "source": "f", "line": 3}])
    result = clean(frame)
    assert len(result.tracks) == 1
    # A label is merged, never a conflict: the detail names the canonical columns that differ.
    assert result.duplicates["detail"].tolist() == ["energy: kept 1.0, dropped 0.5"]
    assert result.duplicates["dropped_rows"].tolist() == [1]
    assert result.tracks["target"].tolist() == ["1|0"]


def test_the_near_duplicate_rule_compares_a_song_s_artists_as_a_set():
    """The same artists in another order, title and duration are one song; one artist fewer is another."""
    from songscope.artists import SEPARATOR

    base = {c: 1 for c in schema.CANONICAL_COLUMNS} | {"track_name": "Duet", "duration_ms": 200_000, "popularity": 10, "artist_ids": None}
    rows = [base | {"track_id": "a", "artist_name": "X", "artists": f"X{SEPARATOR}Y", "line": 2},
            base | {"track_id": "b", "artist_name": "Y", "artists": f"Y{SEPARATOR}X", "line": 3},
            base | {"track_id": "c", "artist_name": "X", "artists": "X", "line": 4}]
    result = clean(pd.DataFrame(rows).assign(source="f"))
    assert sorted(result.tracks["track_id"]) == ["a", "c"]
    assert result.duplicates[["rule", "kept_track_id", "dropped_track_id"]].values.tolist() == [["same artist, track name and duration", "a", "b"]]


@pytest.mark.parametrize("loose", [False, True])
def test_cleaning_arrow_text_gives_what_cleaning_python_text_gives(seed_files, loose):
    """Validation hands cleaning Arrow-backed text; a frame of Python strings (a caller's own)
    is cleaned to the same songs, keys, duplicates, provenance and report."""
    from songscope.textcolumns import TEXT

    arrow = read_sources(seed_files).frame
    text_columns = [c for c in arrow.columns if arrow[c].dtype == TEXT]
    assert {"track_id", "artist_name", "track_name", "artists"} <= set(text_columns)
    python = arrow.astype({c: object for c in text_columns})
    python[text_columns] = python[text_columns].where(python[text_columns].notna(), None)
    from_arrow, from_python = clean(arrow, loose=loose), clean(python, loose=loose)
    assert from_arrow.report.to_dict() == from_python.report.to_dict()
    assert (from_arrow.near_keys == from_python.near_keys).all()
    for part in ("tracks", "provenance", "duplicates", "loose_candidates"):
        got, expected = getattr(from_arrow, part), getattr(from_python, part)
        pd.testing.assert_frame_equal(got.astype(object).where(got.notna(), None), expected.astype(object).where(expected.notna(), None),
                                      check_dtype=False, obj=part)


@pytest.mark.parametrize("text", ["python", "arrow"])
def test_loose_pairs_are_found_among_the_remaining_rows_only(text):
    """The loose rule numbers every row's names but pairs only the rows the exact, same-id and
    near rules left: a merged row's name pairs with nothing, and a missing or empty name matches
    nothing (two of them are not "the same name")."""
    from songscope.artists import SEPARATOR
    from songscope.textcolumns import TEXT

    base = {c: 1 for c in schema.CANONICAL_COLUMNS} | {"popularity": 10, "source": "f"}
    rows = [base | {"track_id": "a", "artist_name": "Nina Simone", "track_name": "Feeling Good", "duration_ms": 170_000, "line": 2},
            base | {"track_id": "a", "artist_name": "Nina Simone", "track_name": "Feeling Good (Remastered)", "duration_ms": 171_000,
                    "popularity": 5, "line": 3},  # same id: merged into the first before the loose rule looks
            base | {"track_id": "b", "artist_name": "NINA SIMONE", "track_name": "Feeling Good - 2013 Remaster", "duration_ms": 171_500, "line": 4},
            base | {"track_id": "c", "artist_name": None, "track_name": "Untitled", "duration_ms": 100_000, "line": 5},
            base | {"track_id": "d", "artist_name": None, "track_name": "Untitled", "duration_ms": 100_500, "line": 6},
            base | {"track_id": "e", "artist_name": "!!!", "track_name": "Untitled", "duration_ms": 100_000, "line": 7},
            base | {"track_id": "f", "artist_name": "???", "track_name": "Untitled", "duration_ms": 100_000, "line": 8},
            base | {"track_id": "g", "artist_name": "Ann", "track_name": "Duet", "duration_ms": 100_000, "line": 9}]
    frame = pd.DataFrame(rows).assign(artists=lambda f: f["artist_name"], artist_ids=None)
    frame.loc[6, "artists"] = f"Bob{SEPARATOR}Ann"  # a song of several artists, whose set is sorted
    if text == "arrow":  # in two chunks, as the rows of two files are
        halves = [part.astype({"artist_name": TEXT, "artists": TEXT, "track_name": TEXT}) for part in (frame.iloc[:3], frame.iloc[3:])]
        frame = pd.concat(halves, ignore_index=True)
        assert frame["artists"].array._pa_array.num_chunks == 2
    result = clean(frame, loose=True)
    assert result.loose_candidates[["kept_track_id", "candidate_track_id"]].values.tolist() == [["a", "b"]]
    assert sorted(result.tracks["track_id"]) == ["a", "c", "d", "e", "f", "g"]


def test_ids_whose_hashes_collide_are_never_one_track(seed_files, monkeypatch):
    """Rows are matched on their ids' hashes first: with every id hashing alike, the ids themselves
    decide, and cleaning gives what it gives with real hashes."""
    import numpy as np

    from songscope import row_keys

    frame = read_sources(seed_files).frame
    frame = frame[frame["track_id"].duplicated(keep=False) | (np.arange(len(frame)) < 1000)]
    expected = clean(frame)
    monkeypatch.setattr(row_keys, "text_hashes", lambda values: np.zeros(len(values), dtype=np.uint64))
    collided = clean(frame)
    pd.testing.assert_frame_equal(collided.tracks, expected.tracks)
    pd.testing.assert_frame_equal(collided.duplicates, expected.duplicates)
    assert collided.report.to_dict() == expected.report.to_dict()
    assert expected.report.id_conflicts > 0 and expected.report.steps[0].removed > 0


def _labels_joined_group_by_group(labels: pd.DataFrame, representative: np.ndarray, label_columns: list[str]) -> pd.DataFrame:
    """What `clean._merge_labels` gives, by the rule written out once per track and column."""
    def join(values: pd.Series) -> object:
        seen: dict[str, None] = {}
        for value in values.dropna():
            for part in str(value).split("|"):
                if part != "":
                    seen.setdefault(part, None)
        return "|".join(seen) if seen else None

    return labels.set_axis(representative).groupby(level=0, sort=False)[label_columns].agg(join)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 5), *[st.none() | st.sampled_from(["a", "b", "a|b", "b|c|", "", "|", "c", "é"])] * 2),
                    min_size=1, max_size=40))
def test_labels_are_merged_as_joining_them_track_by_track_merges_them(rows):
    """The merged labels (each track's values, split on ``|``, unique, in order read) of text as
    validation gives it (Arrow's) and as Python objects, missing values included, equal those of
    joining each track's on its own."""
    from songscope.clean import _merge_labels

    labels = pd.DataFrame({"playlist": pd.Series([r[1] for r in rows], dtype="string[pyarrow]"),
                           "genre": pd.Series([r[2] for r in rows], dtype=object)})
    representative = np.array([r[0] * 3 for r in rows], dtype=np.int64)
    merged = _merge_labels(labels, representative, ["playlist", "genre"])
    expected = _labels_joined_group_by_group(labels, representative, ["playlist", "genre"])
    as_text = expected.astype(object).where(expected.notna(), None)  # the values, whatever dtype the aggregation gave back
    pd.testing.assert_frame_equal(merged, as_text)


def _conflict_worded_pair_by_pair(kept: pd.Series, dropped: pd.Series) -> str:
    """What `clean.describe_conflicts` says of one pair, by the rule written out value by value."""
    def same(a: object, b: object) -> bool:
        if pd.isna(a) or pd.isna(b):
            return bool(pd.isna(a) and pd.isna(b))
        return bool(a == b)

    return "; ".join(f"{c}: kept {kept[c]}, dropped {dropped[c]}" for c in kept.index if not same(kept[c], dropped[c]))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.tuples(st.none() | st.sampled_from(["a", "b", "é", "nan"]), st.none() | st.integers(-2, 2),
                                 st.sampled_from([0.1, 1e-05, -0.0, 0.0, float("nan"), 120.5])), min_size=2, max_size=12),
       data=st.data())
def test_conflicts_are_worded_as_comparing_each_pair_words_them(values, data):
    """`describe_conflicts` over all pairs at once says what comparing each pair's rows value by
    value says: Arrow text, integers and floats, missing values (NA and NaN) included."""
    from songscope.clean import describe_conflicts

    rows = pd.DataFrame({"track_name": pd.Series([v[0] for v in values], dtype="string[pyarrow]"),
                         "key": pd.array([v[1] for v in values], dtype="Int64"),
                         "tempo": np.array([v[2] for v in values])}).set_axis(np.arange(len(values)) * 2 + 5)
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(list(rows.index)), st.sampled_from(list(rows.index))), max_size=20), label="pairs")
    kept = np.array([k for k, _ in pairs], dtype=np.int64)
    dropped = np.array([d for _, d in pairs], dtype=np.int64)
    expected = [_conflict_worded_pair_by_pair(rows.loc[k], rows.loc[d]) for k, d in pairs]
    assert describe_conflicts(rows, kept, dropped) == expected


@settings(max_examples=200, deadline=None)
@given(records=st.lists(st.tuples(st.sampled_from(["same id", "exact"]), st.sampled_from(["a", "b", "c"]), st.sampled_from(["a", "c"]),
                                  st.none() | st.sampled_from(["", "key: kept 1, dropped 2", "tempo: kept 90.0, dropped 91.0"])),
                        max_size=30))
def test_conflicts_are_counted_as_grouping_them_counts_them(records):
    """`counted_conflicts` gives, record by record in order of first appearance, what grouping the
    rows and joining each group's distinct details gives."""
    from songscope.clean import DETAIL_SEPARATOR, DUPLICATE_COLUMNS, counted_conflicts

    rows = pd.DataFrame([(*r, 1) for r in records], columns=DUPLICATE_COLUMNS)
    grouped = rows.groupby(["rule", "kept_track_id", "dropped_track_id"], sort=False)
    expected = (grouped["detail"].agg(lambda d: DETAIL_SEPARATOR.join(dict.fromkeys(x for x in d if x))).to_frame()
                .join(grouped.size().rename("dropped_rows")).reset_index()[DUPLICATE_COLUMNS])
    pd.testing.assert_frame_equal(counted_conflicts(rows), expected)


@pytest.mark.parametrize("text", [object, "string[pyarrow]"])
def test_loose_candidates_are_reported_as_looking_up_each_pair_reports_them(text):
    from songscope.clean import _loose_candidates

    shown = pd.DataFrame({"track_id": pd.Series(["a", "b", "c", "d"], dtype=text), "artist_name": pd.Series(["X", "Y", "X", "Ä"], dtype=text),
                          "track_name": pd.Series(["t", "u", "t (live)", "v"], dtype=text)}, index=[3, 8, 9, 20])
    pairs = [(3, 9), (3, 20), (8, 20), (9, 3)]
    expected = pd.DataFrame([{"kept_track_id": shown.at[k, "track_id"], "kept": f"{shown.at[k, 'artist_name']} - {shown.at[k, 'track_name']}",
                              "candidate_track_id": shown.at[d, "track_id"], "candidate": f"{shown.at[d, 'artist_name']} - {shown.at[d, 'track_name']}"}
                             for k, d in pairs], columns=["kept_track_id", "kept", "candidate_track_id", "candidate"])
    pd.testing.assert_frame_equal(_loose_candidates(shown, pairs), expected)
    assert _loose_candidates(None, []).empty and list(_loose_candidates(None, []).columns) == list(expected.columns)
