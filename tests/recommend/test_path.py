"""Song paths: from one song to another, smoothly, no repeats, an artist cap, each step with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from songscope.cli import app
from songscope.errors import UserError
from songscope.features import FeatureSpace
from songscope.recommend.path import song_path
from songscope.recommend.playlists import read
from songscope.recommend.recommender import Recommender
from tests.conftest import copy_stores, load_catalogue

BASTILLE = "Bastille - Admit Defeat"
CIGARETTES = "Cigarettes After Sex - Cry"


@pytest.fixture(scope="module")
def model(seed_catalogue):
    catalogue = load_catalogue(seed_catalogue)
    return Recommender.from_frame(catalogue, FeatureSpace().fit(catalogue))


def test_a_path_runs_from_one_song_to_the_other_smoothly(model):
    result = song_path(model, BASTILLE, CIGARETTES, steps=12)
    labels = [f"{s.artist_name} - {s.track_name}" for s in result.steps]
    assert len(labels) == 12 and labels[0] == BASTILLE and labels[-1] == CIGARETTES
    rows = [model.resolve(s.track_id) for s in result.steps]
    assert len(set(rows)) == 12 and len({int(model.songs.version[r]) for r in rows}) == 12  # no song, nor version, twice
    artists = [int(model.songs.artist[r]) for r in rows]
    assert max(np.unique(artists, return_counts=True)[1]) == 1  # the default cap: one song per artist
    # Smooth: it moves towards the end (each step nearer to it than the start was, on the whole),
    # and no hop is far longer than an even one.
    X = model.X[rows].astype(np.float64)
    to_end = np.sqrt(((X - X[-1]) ** 2).sum(axis=1))
    assert np.corrcoef(np.arange(12), to_end)[0, 1] < -0.9
    # No hop is half the direct jump; the hops are far shorter than those between random songs.
    assert max(result.hops) < to_end[0] / 2 and not result.notes
    rng = np.random.default_rng(0)
    shuffled = model.X[rng.choice(len(model), 12, replace=False)].astype(np.float64)
    assert np.mean(result.hops) < 0.5 * np.sqrt(((shuffled[1:] - shuffled[:-1]) ** 2).sum(axis=1)).mean()
    reasons = result.reasons()
    assert reasons[0] == "the start" and "of the way; like the song before in" in reasons[5] and reasons[-1].startswith("the end")
    answer = result.to_dict()
    assert [s["progress"] for s in answer["steps"]][:2] == [0.0, round(1 / 11, 4)] and answer["smoothness"]["mean_hop"] > 0


def test_a_path_says_what_it_cannot_do(model):
    with pytest.raises(UserError, match="same song"):
        song_path(model, BASTILLE, BASTILLE)
    with pytest.raises(UserError, match="3 to 100 songs"):
        song_path(model, BASTILLE, CIGARETTES, steps=2)
    uncapped = song_path(model, BASTILLE, CIGARETTES, steps=20, per_artist=None)
    assert len(uncapped.steps) == 20


def test_path_from_the_cli_and_the_api(seed_catalogue, clustered, tmp_path):
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    settings = copy_stores(seed_catalogue, tmp_path)
    common = ["--db", settings.db_url, "--lake", settings.lake_url]
    out = tmp_path / "path.m3u"
    shown = runner.invoke(app, ["path", BASTILLE, CIGARETTES, "--steps", "8", "--export", str(out), *common])
    assert shown.exit_code == 0, shown.output
    assert "the start" in shown.output and "of the way" in shown.output and "hops: mean" in shown.output
    assert len(read(out.read_text(), "m3u")) == 8
    as_json = json.loads(runner.invoke(app, ["path", BASTILLE, CIGARETTES, "--steps", "5", "--json", *common]).output)
    assert len(as_json["steps"]) == 5 and as_json["start"] == BASTILLE
    same = runner.invoke(app, ["path", BASTILLE, BASTILLE, *common])
    assert same.exit_code == 2 and "same song" in same.output

    from fastapi.testclient import TestClient

    from songscope.web.app import create_app

    client = TestClient(create_app(clustered[0]), base_url="http://127.0.0.1:8000")
    answer = client.post("/api/path", json={"start": BASTILLE, "end": CIGARETTES, "steps": 6})
    assert answer.status_code == 200, answer.text
    steps = answer.json()["steps"]
    assert len(steps) == 6 and all(s["cluster"] is not None for s in steps)  # the latest run's clusters in the reasons
    playlist = client.post("/api/path/playlist?format=csv", json={"start": BASTILLE, "end": CIGARETTES, "steps": 6})
    assert playlist.status_code == 200 and playlist.text.count("spotify:track:") == 6
    assert client.post("/api/path", json={"start": BASTILLE, "end": CIGARETTES, "steps": 500}).status_code == 422
    assert client.post("/api/path", json={"start": BASTILLE, "end": "Nobody - Nothing At All Here"}).status_code == 422
