"""Filters and exclusions: artists, known songs, --where over the catalogue's own values, genres
and explicit songs (from label columns), each checked against the catalogue, in the recommender,
the service (lake and database), the CLI and the API."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from songscope.cli import app
from songscope.errors import UserError
from songscope.features import FeatureSpace
from songscope.recommend.recommender import Recommender, RecommendOptions
from songscope.recommend.where import WhereError
from tests.conftest import copy_stores, ingest, load_catalogue, run_service

BASTILLE = "Bastille - Admit Defeat"
CIGARETTES = "Cigarettes After Sex - Cry"


def _rows(catalogue, result) -> pd.DataFrame:
    return catalogue.set_index("track_id").loc[[i.track_id for i in result.items]]


def test_where_keeps_only_songs_whose_values_pass_and_still_finds_n(recommender, catalogue):
    plain = recommender.recommend([CIGARETTES], RecommendOptions(n=10))
    short = recommender.recommend([CIGARETTES], RecommendOptions(n=10, where="duration_ms < 200000 and instrumentalness < 0.5"))
    rows = _rows(catalogue, short)
    assert len(rows) == 10 and (rows["duration_ms"] < 200_000).all() and (rows["instrumentalness"] < 0.5).all()
    assert [i.track_id for i in short.items] != [i.track_id for i in plain.items]
    # A strict filter that few of the nearest pass: the pool widens until n are found.
    strict = "energy > 0.9 and acousticness > 0.5"
    passing = catalogue.query(strict)
    assert 10 <= len(passing) < 200
    found = recommender.recommend([CIGARETTES], RecommendOptions(n=10, per_artist=None, where=strict))
    assert len(found.items) == 10 and set(i.track_id for i in found.items) <= set(passing["track_id"])
    assert not any("only" in note for note in found.notes)


def test_artists_and_known_songs_are_left_out(recommender, catalogue):
    plain = recommender.recommend([BASTILLE, CIGARETTES], RecommendOptions(n=10, per_artist=None))
    artist = plain.items[0].artist_name
    without = recommender.recommend([BASTILLE, CIGARETTES], RecommendOptions(n=10, per_artist=None,
                                                                            exclude_artists=(artist.upper(), "Nobody At All")))
    assert artist not in {i.artist_name for i in without.items} and len(without.items) == 10
    assert any("no artist named 'Nobody At All'" in note for note in without.notes)
    known = (plain.items[0].track_id, f"{plain.items[1].artist_name} - {plain.items[1].track_name}", "not-a-song")
    fresh = recommender.recommend([BASTILLE, CIGARETTES], RecommendOptions(n=10, per_artist=None, known=known))
    ids = {i.track_id for i in fresh.items}
    assert plain.items[0].track_id not in ids and plain.items[1].track_id not in ids
    assert any("1 of the 3 known songs are not in the catalogue" in note for note in fresh.notes)


def test_genres_and_explicit_songs_are_left_out_when_the_catalogue_has_them(catalogue):
    rng = np.random.default_rng(0)
    labelled = catalogue.assign(playlist_genre=rng.choice(["pop", "rock|indie", "latin,dance"], len(catalogue)),
                                explicit=rng.choice(["True", "False"], len(catalogue)))
    model = Recommender.from_frame(labelled, FeatureSpace().fit(labelled))
    result = model.recommend([CIGARETTES], RecommendOptions(n=15, exclude_genres=("INDIE", "latin"), exclude_explicit=True))
    rows = _rows(labelled, result)
    assert len(rows) == 15 and set(rows["playlist_genre"]) == {"pop"} and set(rows["explicit"]) == {"False"}
    plain = Recommender.from_frame(catalogue, FeatureSpace().fit(catalogue))
    with pytest.raises(UserError, match="needs a genre column"):
        plain.recommend([CIGARETTES], RecommendOptions(exclude_genres=("pop",)))
    with pytest.raises(UserError, match="needs an 'explicit' column"):
        plain.recommend([CIGARETTES], RecommendOptions(exclude_explicit=True))


def test_a_bad_where_is_refused_before_any_work(recommender):
    with pytest.raises(WhereError, match="unknown feature 'loudnes'"):
        recommender.recommend([CIGARETTES], RecommendOptions(where="loudnes > -5"))


def test_the_service_reads_values_from_the_lake_and_labels_from_the_database(seed_catalogue, tmp_path):
    settings = copy_stores(seed_catalogue, tmp_path)
    frame = load_catalogue(settings)
    rng = np.random.default_rng(1)
    # New songs with genre and explicit labels: the labels live in the database's label table.
    extra = frame.sample(2_000, random_state=0).assign(track_id=lambda f: "new" + f["track_id"], artist_name=lambda f: "New " + f["artist_name"],
                                                       genre=rng.choice(["jazz", "metal"], 2_000), explicit=rng.choice(["1", "0"], 2_000))
    path = tmp_path / "labelled.csv"
    extra.drop(columns=[c for c in extra if c in ("source", "is_outlier", "outlier_rules")]).to_csv(path, index=False)
    ingest([str(path)], settings)
    seed = extra["track_id"].iloc[0]
    labelled = extra.set_index("track_id")
    catalogue = load_catalogue(settings).set_index("track_id")

    def picks(**options) -> list[str]:
        outcome = run_service("recommend", settings, [seed], options=RecommendOptions(n=60, per_artist=None, **options), record=False)
        return [i.track_id for i in outcome.result.items]

    plain = [t for t in picks() if t in labelled.index]
    assert {"metal"} <= set(labelled.loc[plain, "genre"]) and {"1"} <= set(labelled.loc[plain, "explicit"].astype(str))
    picked = picks(exclude_genres=("metal",), exclude_explicit=True, where="tempo >= 100")
    assert len(picked) == 60 and (catalogue.loc[picked, "tempo"] >= 100).all()
    mine = [t for t in picked if t in labelled.index]
    assert mine and set(labelled.loc[mine, "genre"]) == {"jazz"} and set(labelled.loc[mine, "explicit"].astype(str)) == {"0"}


def test_cli_and_api_take_the_filters(seed_catalogue, tmp_path):
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    settings = copy_stores(seed_catalogue, tmp_path)
    common = ["--db", settings.db_url, "--lake", settings.lake_url]
    known = tmp_path / "known.txt"
    known.write_text("# songs I know\nBastille - Pompeii\n")
    shown = runner.invoke(app, ["recommend", BASTILLE, "-n", "8", "--where", "energy < 0.6", "--exclude-artist", "bastille", "--known", str(known),
                                "--json", *common])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.output)
    catalogue = load_catalogue(settings).set_index("track_id")
    picked = [r["track_id"] for r in answer["recommendations"]]
    assert len(picked) == 8 and (catalogue.loc[picked, "energy"] < 0.6).all() and "Bastille" not in set(catalogue.loc[picked, "artist_name"])
    bad = runner.invoke(app, ["recommend", BASTILLE, "--where", "energy < 0.6 and import os", *common])
    assert bad.exit_code == 2 and "--where" in bad.output and "column" in bad.output

    from fastapi.testclient import TestClient

    from songscope.web.app import create_app

    client = TestClient(create_app(settings), base_url="http://127.0.0.1:8000")
    found = client.post("/api/recommend", json={"favourites": [BASTILLE], "n": 5, "where": "valence > 0.5", "exclude_artists": ["Bastille"]})
    assert found.status_code == 200, found.text
    picked = [r["track_id"] for r in found.json()["recommendations"]]
    assert len(picked) == 5 and (catalogue.loc[picked, "valence"] > 0.5).all()
    refused = client.post("/api/recommend", json={"favourites": [BASTILLE], "where": "valence > __import__('os')"})
    assert refused.status_code == 422 and "a call is not allowed" in refused.json()["detail"]
    too_many = client.post("/api/recommend", json={"favourites": [BASTILLE], "known": ["x"] * 1_001})
    assert too_many.status_code == 422
    no_genres = client.post("/api/recommend", json={"favourites": [BASTILLE], "exclude_genres": ["pop"]})
    assert no_genres.status_code == 422 and "needs a genre column" in no_genres.json()["detail"]


def test_filters_that_leave_nothing_answer_with_a_note_not_an_error(catalogue):
    """A catalogue of one artist, asked for other artists: no song passes, and that is said
    (this raised on an empty reduction before)."""
    one_artist = catalogue[catalogue["artist_name"] == catalogue["artist_name"].value_counts().index[0]].reset_index(drop=True)
    model = Recommender.from_frame(one_artist, FeatureSpace().fit(one_artist))
    result = model.recommend([one_artist["track_id"].iloc[0]], RecommendOptions(n=5, exclude_seed_artists=True))
    assert result.items == [] and any("only 0 songs pass the filters" in note for note in result.notes)
    nothing = model.recommend([one_artist["track_id"].iloc[0]], RecommendOptions(n=5, where="tempo > 5000"))
    assert nothing.items == []
